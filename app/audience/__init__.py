"""The B2B audience: organisations, contacts, subscriptions, consents, suppressions, imports."""
