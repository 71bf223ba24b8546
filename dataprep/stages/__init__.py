"""Document stages: each module holds one step of the cleaning pipeline and its config."""
