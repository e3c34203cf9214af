"""supporthub's Strawberry CRM plug-in: the adapter and a simulator of Strawberry's API."""
