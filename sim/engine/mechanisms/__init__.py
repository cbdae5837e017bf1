"""The market's mechanisms (need, research, sales, decision, diffusion, after the sale): one
module each, declaring its parameters, state, flows and place in the day next to its code."""
