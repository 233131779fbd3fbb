"""The web layer every page shares: errors, headers, health, home, languages, forms, server-side
sessions, the demo mailbox."""
