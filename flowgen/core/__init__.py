"""What every part of flowgen shares: errors, exit codes, findings, JSON, JSONPath, expressions."""
