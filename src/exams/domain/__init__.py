"""The domain core: exam and attempt rules. Standard library only."""
