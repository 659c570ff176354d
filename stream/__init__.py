"""Stream layer: access events, parsers, features and the anomaly detector."""
