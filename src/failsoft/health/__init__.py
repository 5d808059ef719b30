"""How healthy each provider is: failsoft's own observations (passive windows, probes),
what the providers' status pages declare, and the incidents opened from them."""
