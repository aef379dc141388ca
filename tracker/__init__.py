"""tracker: the customer's side of a customer-service case."""

__version__ = "0.1.0"
