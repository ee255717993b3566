"""Training: the probe (cached layer-L states, class-balanced BCE) and the span-type heads."""
