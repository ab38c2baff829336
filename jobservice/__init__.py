"""The phonos job service: accounts, keys, credits, jobs, usage, webhooks and dispatch to Triton."""
