"""Which source? Rankers that predict how well each source language transfers to a target."""
