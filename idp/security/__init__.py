"""Security: second factors, networks and trusted proxies, API keys, throttles of failed attempts."""
