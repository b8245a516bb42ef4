"""The single-file HTML dossier: its page, its figures, and the codec of the bundle it carries."""
