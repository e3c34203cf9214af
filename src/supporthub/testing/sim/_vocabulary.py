"""Word lists the data generator draws from.

Kept apart from the generator so that the generator reads as an algorithm
and this file as data. Every name here is invented; e-mail domains are the
ones reserved for examples (RFC 2606), so no generated address can reach a
real person.
"""

from __future__ import annotations

from typing import Final

# Canonical provider names, as the provider spells itself. None of them may
# end in a legal-form word (inc, llc, gmbh, co, ...): the hub drops such a
# last word from the provider key, and the variants below add one.
PROVIDERS: Final[tuple[str, ...]] = (
    "Acme Payments",
    "Globex Pay",
    "Initech Billing",
    "Umbrella Remit",
    "Hooli Checkout",
    "Vandelay Card Services",
    "Stark Settlements",
    "Wayne Transfers",
    "Cyberdyne Wallet",
    "Soylent Pay",
    "Tyrell Merchant Services",
    "Wonka Payouts",
    "Oscorp Gateway",
    "Massive Dynamic Payments",
    "Pied Piper Pay",
    "Nakatomi Trading",
    "Gringotts Transfer",
    "Monarch Billing",
    "Bluth Banking",
    "Dunder Card",
    "Paper Street Pay",
    "Sterling Cooper Payments",
    "Aperture Payments",
    "Black Mesa Billing",
    "Virtucon Pay",
    "Prestige Worldwide Payments",
    "Stripe-like Payments",
    "Pay.Go Express",
    "Quick & Easy Pay",
    "Northwind Payments",
    "Contoso Pay",
    "Fabrikam Billing",
    "Blue Yonder Remit",
    "Litware Checkout",
    # Unicode in a few names: accents, a Polish ł, Greek, Japanese.
    "Zürich Zahlungen",
    "Société Paiement Rapide",
    "Pagos Ñandú",
    "Łódź Płatności",
    "Ελληνικές Πληρωμές",
    "東京ペイ",
)

# Legal forms agents append; each renders a different punctuation too.
LEGAL_SUFFIXES: Final[tuple[str, ...]] = (
    " Inc.",
    ", Inc.",
    " Inc",
    " LLC",
    " GmbH",
    " Ltd",
    " Ltd.",
    " Corp.",
)

NUMERIC_ERROR_CODES: Final[tuple[str, ...]] = (
    "1001",
    "1042",
    "1105",
    "1200",
    "2001",
    "2002",
    "2044",
    "3001",
    "3105",
    "4001",
    "4010",
    "4042",
    "4290",
    "5003",
    "5100",
    "6006",
    "7001",
    "9999",
)

SYMBOLIC_ERROR_CODES: Final[tuple[str, ...]] = (
    "AUTH_FAILED",
    "CARD_DECLINED",
    "INSUFFICIENT_FUNDS",
    "EXPIRED_CARD",
    "INVALID_CVV",
    "DO_NOT_HONOR",
    "DUPLICATE_TRANSACTION",
    "TIMEOUT",
    "GATEWAY_TIMEOUT",
    "RATE_LIMITED",
    "FRAUD_SUSPECTED",
    "CURRENCY_NOT_SUPPORTED",
    "ACCOUNT_LOCKED",
    "INVALID_IBAN",
    "SETTLEMENT_DELAYED",
    "REFUND_FAILED",
    "CHARGEBACK_OPEN",
    "3DS_FAILED",
    "KYC_PENDING",
    "WEBHOOK_FAILED",
)

TOPICS: Final[tuple[str, ...]] = (
    "card",
    "refund",
    "payout",
    "login",
    "invoice",
    "subscription",
    "transfer",
    "chargeback",
    "webhook",
    "checkout",
)

# Subject templates; {provider} and {code} are filled from the case (the
# canonical code: how a CRM shows a code inside free text is up to agents).
SUBJECTS_WITH_PROVIDER: Final[tuple[str, ...]] = (
    "Card payments declined with {code}",
    "{provider}: payment failed ({code})",
    "Payouts from {provider} stuck",
    "Refund via {provider} never arrived",
    "Error {code} at checkout",
    "Paiement refusé — {provider}",
    "Zahlung fehlgeschlagen: Fehler {code}",
    "支付失败 {code}",
    "決済エラー {code} ({provider})",
    "💳 declined again ({code})",
    "Refund stuck 😤 {provider}",
    "Платёж отклонён: {code}",
    "Pagamento não autorizado – {provider}",  # noqa: RUF001 (an en dash, as agents type)
    "Échec d'authentification {code}",
)

SUBJECTS_PLAIN: Final[tuple[str, ...]] = (
    "Customer cannot pay",
    "Question about invoice",
    "Login problem after update",
    "Subscription renewal failed",
    "Double charge on statement",
    "Où est mon remboursement ?",
    "Kunde kann nicht zahlen",
    "账单问题",
    "Need help 🙏",
)

DESCRIPTION_SENTENCES: Final[tuple[str, ...]] = (
    "Customer reports the payment was declined twice.",
    "The error appears right after the 3-D Secure step.",
    "Merchant says the settlement is late by two days.",
    "Screenshots attached; the code shows in the receipt.",
    "Happens only with cards issued abroad.",
    "Le client a essayé trois fois, sans succès.",
    "Der Fehler tritt seit dem letzten Update auf.",
    "お客様はカードが拒否されたと報告しています。",
    "客户说退款还没有到账。",
    "Retrying a minute later works — sometimes.",
    "No idea what changed on our side 🤷.",
    "Escalated by the account manager.",
)

FIRST_NAMES: Final[tuple[str, ...]] = (
    "Jane",
    "John",
    "Ana",
    "José",
    "Zoë",
    "Li",
    "Mei",
    "Olga",
    "Søren",
    "Amélie",
    "Kwame",
    "Priya",
    "Noah",
    "Emma",
    "Liam",
    "Yuki",
    "Fatima",
    "Lukas",
    "Marta",
    "Omar",
)

LAST_NAMES: Final[tuple[str, ...]] = (
    "Roe",
    "Doe",
    "Núñez",
    "Brontë",
    "Wang",
    "Ivanova",
    "Kierkegaard",
    "Dubois",
    "Mensah",
    "Patel",
    "Smith",
    "Müller",
    "Tanaka",
    "Haddad",
    "Novak",
    "García",
)

EMAIL_DOMAINS: Final[tuple[str, ...]] = ("example.com", "example.org", "example.net")

# ASCII spellings of the names above for the local part of an address.
ASCII_FOLD: Final[dict[str, str]] = {
    "é": "e",
    "ë": "e",
    "ú": "u",
    "ñ": "n",
    "ø": "o",
    "ü": "u",
    "É": "e",
}
