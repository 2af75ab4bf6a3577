"""Knowledge base: the FAQ corpus content editors maintain under data/faq/, and search over it."""
