"""Model providers behind one protocol: ``mock``, ``hf/<local dir>``, ``openai/<model>``.

>>> from modelworks.chat import get_model
>>> get_model("mock").generate([{"role": "user", "content": "hi"}])
'hi'
"""

from modelworks.chat._registry import get_model, providers, register_provider
from modelworks.chat._types import ChatModel, GenerateConfig, Message, image_data_url, images_of, text_of
from modelworks.chat.mock import MockChat

__all__ = [
    "ChatModel",
    "GenerateConfig",
    "Message",
    "MockChat",
    "get_model",
    "providers",
    "register_provider",
    "text_of",
    "images_of",
    "image_data_url",
]
