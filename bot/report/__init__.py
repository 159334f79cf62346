"""From priced sessions to what people read: report, budget verdict, waste findings, rendering."""
