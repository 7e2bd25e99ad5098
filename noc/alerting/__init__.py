"""Alerting: thresholds, check states, flap detection, parent/child suppression, alerts and
maintenance windows, evaluated from probe results (``evaluator``)."""
