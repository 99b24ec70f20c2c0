"""The long-running agent: schedules collections, holds run leases, serves health and metrics."""
