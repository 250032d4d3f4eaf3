"""AWS adapters: one module per resource, each hiding its wire format (S3 chats, consent table, ledger, queue)."""
