"""supporthub's Banana CRM plug-in: the adapter and a simulator of Banana's API."""
