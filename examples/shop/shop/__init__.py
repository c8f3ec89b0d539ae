"""A small web shop: customers, products and their orders."""
