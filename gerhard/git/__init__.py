"""Everything that runs git: plumbing, the transaction and its journal, hooks, the audit trail, the lock."""
