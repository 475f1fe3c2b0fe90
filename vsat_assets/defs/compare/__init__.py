"""How the force compares: published comparator figures in, the comparison mart, the report's section."""
