from dataiku.llm.python import BaseLLM


class EchoLLM(BaseLLM):
    def set_config(self, config, plugin_config):
        self.greeting = config["greeting"]
        self.concurrency = config["connection"]["max_concurrency"]

    def _answer(self, query):
        return f"{self.greeting}: {query['messages'][-1]['content']}"

    def process(self, query, settings, trace):
        print("a log line from the component")
        with trace.subspan("echo") as span:
            span.attributes["concurrency"] = self.concurrency
            span.inputs["settings"] = settings
            text = self._answer(query)
        return {"text": text, "promptTokens": 3, "completionTokens": len(text.split()),
                "temperature": settings.get("temperature")}

    def process_stream(self, query, settings, trace):
        words = self._answer(query).split()
        for word in words:
            yield {"chunk": {"text": word + " "}}
        yield {"footer": {"completionTokens": len(words), "finishReason": "stop"}}
