"""Model providers, the spec registry, routing and the cost ledger."""
