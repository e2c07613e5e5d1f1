"""Cost models, one module per hardware kind (the kind → model table is `hwmodels.registry`)."""
