int lw_next_probe(void);
int lw_next_probe(void) { return 2; }
