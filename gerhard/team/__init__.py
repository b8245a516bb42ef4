"""Working as a team through git: register --push, rebase, the merge driver, the hook's checks, PR summaries."""
