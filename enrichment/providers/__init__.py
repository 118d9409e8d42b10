"""Providers of sentiment, daily summaries and hourly topics, behind one interface (:mod:`.base`).

``offline`` providers need no network and no key: :mod:`.vader` (English sentiment), :mod:`.extractive_summary`
and :mod:`.cooccurrence_topics`. :mod:`.openai_compatible` talks to OpenAI, Azure OpenAI or any server that
speaks the chat-completions API. :mod:`.factory` picks one per task from the settings.
"""
