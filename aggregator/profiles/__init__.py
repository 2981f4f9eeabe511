"""Client profiles: the list, linking by tax ID + policy number, unlinking, refresh (seed 003)."""
