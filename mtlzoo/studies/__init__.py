"""Paper reproductions and experiment runners (layer 8): each trains many configs into run folders
through the one resumable run helper and writes a Markdown / JSON / PNG report."""
