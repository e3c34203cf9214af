"""Strawberry's write limit is the kit's (:mod:`supporthub.kit.ratelimit`); kept importable."""

from supporthub.kit.ratelimit import WINDOW_SECONDS, WriteLimiter, forget_limiters, limiter_for

__all__ = ["WINDOW_SECONDS", "WriteLimiter", "forget_limiters", "limiter_for"]
