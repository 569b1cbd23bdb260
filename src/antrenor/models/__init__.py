"""Model registry (aliases, embedded defaults) and loading."""
