"""Deterministic prompt-injection and jailbreak rules: what each matches, its weight, and
the OWASP LLM Top 10 (2025) and MITRE ATLAS ids it maps to.

A prompt's score is the noisy-or of the weights of the distinct rules that fire in any
of its views (:mod:`bastion.guard.llm._normalize`), ``1 - prod(1 - w)``, so two
independent signals add up without exceeding 1. Rules that fire only in an obfuscated view
add the ``obfuscated_payload`` finding; invisible characters add their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ATLAS_JAILBREAK",
    "ATLAS_OBFUSCATION",
    "ATLAS_PROMPT_INJECTION",
    "ATLAS_SYSTEM_PROMPT",
    "OWASP_PROMPT_INJECTION",
    "OWASP_SYSTEM_PROMPT_LEAKAGE",
    "RULES",
    "Rule",
]

OWASP_PROMPT_INJECTION = "LLM01:2025"
OWASP_SYSTEM_PROMPT_LEAKAGE = "LLM07:2025"
ATLAS_PROMPT_INJECTION = "AML.T0051"  # LLM Prompt Injection
ATLAS_DIRECT = "AML.T0051.000"  # Direct
ATLAS_INDIRECT = "AML.T0051.001"  # Indirect
ATLAS_JAILBREAK = "AML.T0054"  # LLM Jailbreak
ATLAS_SYSTEM_PROMPT = "AML.T0056"  # Extract LLM System Prompt
ATLAS_OBFUSCATION = "AML.T0068"  # LLM Prompt Obfuscation
ATLAS_RENDERING = "AML.T0077"  # LLM Response Rendering


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    category: str
    weight: float
    pattern: re.Pattern[str]
    owasp: tuple[str, ...]
    atlas: tuple[str, ...]
    description: str
    #: cheap precondition: one of these must occur in the lowered text (empty: always run)
    triggers: tuple[str, ...] = ()

    def may_match(self, lowered: str, words: frozenset[str]) -> bool:
        """Whether a trigger occurs: a word of ``words``, or else a substring."""
        if not self.triggers:
            return True
        return any(t in words if t.isalpha() else t in lowered for t in self.triggers)


_I = re.IGNORECASE
_INJ = (OWASP_PROMPT_INJECTION,)
_LEAK = (OWASP_PROMPT_INJECTION, OWASP_SYSTEM_PROMPT_LEAKAGE)
_PREV = r"(?:previous|prior|above|earlier|preceding|initial|original|all|any|every|your|its|their|the|these|those|system|developer|safety)"
_RULEWORDS = (
    r"(?:instructions?|prompts?|rules?|directions?|guidelines?|directives?|context|constraints?"
    r"|polic(?:y|ies)|guardrails?|programming|commands?|orders?|restrictions?|settings"
    r"|operators?|creators?|developers?|makers?)"
)
_VERBS_OVERRIDE = r"(?:ignore|disregard|forget|skip|bypass|override|overlook|neglect|drop|abandon|discard|throw away|set aside)"
_LIMITS = (
    r"(?:restrictions?|limits?|limitations?|filters?|rules|guidelines|ethics|ethical|morals?"
    r"|moral|censor(?:ship|ed)?|polic(?:y|ies)|boundaries|safeguards|guardrails)"
)


def _r(
    rid: str, category: str, weight: float, pattern: str, owasp: tuple[str, ...],
    atlas: tuple[str, ...], description: str, flags: int = _I,
) -> Rule:  # fmt: skip
    return Rule(
        rid, category, weight, re.compile(pattern, flags), owasp, atlas, description,
        _TRIGGERS.get(rid, ()),
    )  # fmt: skip


_TRIGGERS: dict[str, tuple[str, ...]] = {
    "override.ignore_previous": ("ignore", "ignoring", "ignored", "ignores", "disregard",
                                 "disregarding", "forget", "forgetting", "skip", "bypass",
                                 "override", "overriding", "overlook", "neglect", "drop",
                                 "abandon", "discard", "throw", "aside"),
    "override.do_not_follow": ("follow", "following", "obey", "obeying", "apply", "applying",
                               "respect", "respecting", "adhere", "adhering"),
    "override.new_instructions": ("instruction", "instructions", "rules", "task", "orders",
                                  "prompt"),
    "override.from_now_on": ("now", "henceforth", "point", "rest"),
    "override.obey_me": ("obey", "follow", "comply"),
    "override.priority": ("override", "overrides", "supersede", "supersedes", "precedence",
                          "replace", "replaces"),
    "jailbreak.do_anything_now": ("anything",),
    "jailbreak.mode": ("mode",),
    "jailbreak.mode_enable": ("mode",),
    "jailbreak.unfiltered_persona": ("unfiltered", "uncensored", "unrestricted", "unaligned",
                                     "amoral", "unethical", "rogue", "evil"),
    "jailbreak.grandma": ("grandma", "grandmother", "grandfather", "grandpa"),
    "override.disregard_that": ("ignore", "disregard", "forget", "scratch"),
    "delimiter.role_line": ("system", "developer", "admin"),
    "jailbreak.no_restrictions_roleplay": ("pretend", "imagine", "act", "behave", "role",
                                           "roleplay", "are", "re", "become", "simulate", "play"),
    "jailbreak.not_an_ai": ("are",),
    "jailbreak.word": ("jailbreak", "jailbreaks", "jailbreaking", "jailbroken", "jailbreaked",
                       "jail-break"),
    "jailbreak.persona": ("betterdan", "antidan", "anti-dan", "mongo", "confidant", "mode",
                          "machiavellian", "unaligned"),
    "jailbreak.stay_in_character": ("character",),
    "jailbreak.no_refusal": ("refuse", "decline", "say", "apologize", "apologise", "add"),
    "exfil.system_prompt": ("prompt", "instruction", "instructions", "message", "rules",
                            "guidelines", "directives", "configuration"),
    "exfil.text_above": ("above", "before", "prior", "preceding"),
    "exfil.context_window": ("context", "memory", "prompt"),
    "exfil.your_instructions": ("your",),
    "exfil.markdown_image": ("markdown", "html"),
    "obfuscation.decode_and_follow": ("decode", "decipher", "decrypt", "unscramble", "reverse",
                                      "translate"),
    "override.what_you_were_told": ("told", "given", "instructed", "asked", "programmed",
                                    "trained"),
    "override.rules_void": ("apply", "retired", "suspended", "lifted", "disabled", "revoked",
                            "void", "off", "removed", "deactivated", "overridden", "canceled",
                            "cancelled"),
    "override.new_task": ("your",),
    "override.authority_claim": ("operator", "vendor", "developer", "admin", "administrator",
                                 "provider", "owner"),
    "override.claims_admin": ("administrator", "admin", "developer", "operator", "owner",
                              "creator", "maintainer"),
    "override.rule_change": ("rule", "rules", "policy", "policies", "restriction",
                             "restrictions", "instruction", "instructions", "guidelines"),
    "indirect.address_to_ai": ("assistant", "assistants", "ai", "llm", "llms", "agent", "agents",
                               "bot", "bots", "chatbot", "chatbots", "model", "models"),
    "jailbreak.mode_on": ("mode",),
    "jailbreak.reply_only_as": ("only", "two"),
    "jailbreak.answers_everything": ("every", "any", "all"),
    "exfil.told_before": ("told", "instructed", "programmed", "asked", "configured"),
    "exfil.verbatim": ("verbatim", "with"),
    "delimiter.chat_tokens": ("<|",),
    "delimiter.inst_tags": ("inst]", "<<sys>>", "<</sys>>"),
    "delimiter.role_tags": ("<",),
    "delimiter.role_header": ("system", "developer", "admin"),
    "delimiter.fake_boundary": ("end", "begin", "beginning"),
    "delimiter.json_role": ("role",),
    "exfil.via_url": ("url", "link", "image", "img", "query"),
}  # fmt: skip


# fmt: off
RULES: tuple[Rule, ...] = (
    # -- instruction override ------------------------------------------------------------
    _r("override.ignore_previous", "instruction_override", 0.85,
       rf"\b{_VERBS_OVERRIDE}\b[^.\n]{{0,40}}?\b{_PREV}\b[^.\n]{{0,30}}?\b{_RULEWORDS}\b",
       _INJ, (ATLAS_PROMPT_INJECTION,), "asks the model to ignore its earlier instructions"),
    _r("override.do_not_follow", "instruction_override", 0.8,
       rf"\b(?:do not|don't|stop|no longer|never)\s+(?:follow(?:ing)?|obey(?:ing)?|apply(?:ing)?|respect(?:ing)?|adher(?:e|ing) to)\b[^.\n]{{0,30}}\b{_RULEWORDS}\b",
       _INJ, (ATLAS_PROMPT_INJECTION,), "tells the model not to follow its instructions"),
    _r("override.what_you_were_told", "instruction_override", 0.85,
       r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}?\b(?:you were|you've been|you have been|you are|you got)\s+(?:told|given|instructed|asked|programmed|trained)\b",
       _INJ, (ATLAS_PROMPT_INJECTION,), "asks the model to ignore what it was told"),
    _r("override.rules_void", "instruction_override", 0.7,
       r"\b(?:previous|prior|earlier|old|your|its|whose|all|content|safety|the|my)\s+(?:rules?|polic(?:y|ies)|instructions?|guidelines|restrictions|filters|guardrails)\b[^.\n]{0,20}?\b(?:no longer apply|(?:is|are|were|was|have been|has been|now|now being)\s+(?:now\s+)?(?:retired|suspended|lifted|disabled|revoked|void|switched off|turned off|removed|deactivated|overridden|cancel+ed))",
       _INJ, (ATLAS_PROMPT_INJECTION,), "declares the model's rules void"),
    _r("override.new_task", "instruction_override", 0.5,
       r"\byour (?:only|new|real|sole|actual|true|first) (?:task|job|goal|purpose|mission|instruction)\b",
       _INJ, (ATLAS_PROMPT_INJECTION,), "hands the model a replacement task"),
    _r("override.authority_claim", "instruction_override", 0.5,
       r"\b(?:configuration|policy|system|settings?|rules?) (?:change|update|override|notice)s?\b[^\n]{0,30}?\b(?:from|by) the (?:operator|vendor|developer|admin\w*|provider|owner)\b|\b(?:enabled|activated|authori[sz]ed|approved)\b[^.\n]{0,30}?\bby the (?:vendor|operator|developer|admin\w*|provider)\b",
       _INJ, (ATLAS_PROMPT_INJECTION,), "claims to speak for the operator"),
    _r("override.claims_admin", "instruction_override", 0.35,
       r"\bi(?:'m| am) (?:the |a |your )?(?:verified |authori[sz]ed |real |official |lead |senior )?(?:administrator|admin|developer|operator|owner|creator|maintainer|system owner)\b",
       _INJ, (ATLAS_PROMPT_INJECTION,), "the user claims to be the operator"),
    _r("override.rule_change", "instruction_override", 0.35,
       r"\b(?:chang|modif|updat|lift|remov|suspend|waiv|relax|revok|disabl)\w*\s+(?:that|the|your|this|these)\s+(?:rules?|polic(?:y|ies)|restrictions?|instructions?|guidelines)\b",
       _INJ, (ATLAS_PROMPT_INJECTION,), "changes the model's rules"),
    _r("indirect.address_to_ai", "instruction_override", 0.6,
       r"\b(?:note|notice|message|instructions?|directive|attention|reminder|request)s?\s+(?:for|to)\s+(?:the\s+|all\s+|any\s+)?(?:automated\s+|ai\s+)?(?:assistants?|ai|llms?|language models?|chatbots?|agents?|bots?)\b|\b(?:assistant|ai|llm|agent)\s+(?:instructions?|notice|directives?)\s*:|\b(?:assistants?|ai models?|llms?|agents?)\s+(?:must|should|shall|are required to|have to)\b",
       _INJ, (ATLAS_PROMPT_INJECTION,), "text addressed to an AI assistant (an injected instruction)"),
    _r("override.disregard_that", "instruction_override", 0.6,
       r"\b(?:ignore|disregard|forget|scratch)\s+(?:that|this|it|the above|everything(?: above)?)\b[,;]?\s+(?:and\s+)?(?:instead|now|rather)\b",
       _INJ, (ATLAS_PROMPT_INJECTION,), "drops the task it was given for another"),
    _r("override.new_instructions", "instruction_override", 0.5,
       r"\b(?:new|updated|real|actual|true|revised|secret)\s+(?:instructions?|rules|task|orders|system prompt)\s*(?::|are|is\b)",
       _INJ, (ATLAS_PROMPT_INJECTION,), "announces replacement instructions"),
    _r("override.from_now_on", "instruction_override", 0.4,
       r"\b(?:from now on|henceforth|from this point (?:on|forward)|for the rest of (?:this|the) conversation)\b,?\s+(?:you|your|always|only|never)\b",
       _INJ, (ATLAS_PROMPT_INJECTION,), "redefines the model's behaviour for the rest of the chat"),
    _r("override.obey_me", "instruction_override", 0.5,
       r"\byou (?:must|will|shall|have to) (?:now )?(?:obey|follow|comply with) (?:me|my|only my|every)\b",
       _INJ, (ATLAS_PROMPT_INJECTION,), "demands obedience to the user over the system"),
    _r("override.priority", "instruction_override", 0.6,
       r"\b(?:this|these|my) (?:instructions?|message|prompt) (?:override|supersede|take(?:s)? precedence over|replace)s?\b",
       _INJ, (ATLAS_PROMPT_INJECTION,), "claims priority over the system prompt"),
    # -- role play and jailbreak personas ------------------------------------------------
    _r("jailbreak.dan", "jailbreak", 0.6, r"\bDAN\b(?![-'\u2019]?\w)|\bD\.A\.N\b", _INJ,
       (ATLAS_JAILBREAK,), "invokes the 'DAN' persona", 0),
    _r("jailbreak.do_anything_now", "jailbreak", 0.85, r"\bdo anything now\b", _INJ,
       (ATLAS_JAILBREAK,), "the 'Do Anything Now' jailbreak"),
    _r("jailbreak.mode_enable", "jailbreak", 0.7,
       r"\b(?:enable|activate|enter|switch (?:on|to|into)|turn on|you are (?:now )?in|respond in|answer in|stay in|go into)\b[^.\n]{0,20}?\b(?:developer|god|jailbreak|jailbroken|unrestricted|unfiltered|uncensored|evil|sudo|debug|admin|dan|chaos|opposite)\s+mode\b",
       _INJ, (ATLAS_JAILBREAK,), "switches the model into an unrestricted 'mode'"),
    _r("jailbreak.mode_on", "jailbreak", 0.6,
       r"\b(?:maintenance|diagnostic|developer|god|debug|unrestricted|unfiltered|uncensored|admin|test|sudo|dan)\s+mode\s+(?:is\s+)?(?:now\s+)?(?:enabled|activated|engaged|unlocked|turned on|switched on)\b",
       _INJ, (ATLAS_JAILBREAK,), "declares a special 'mode' switched on"),
    _r("jailbreak.reply_only_as", "jailbreak", 0.4,
       r"\b(?:reply|respond|answer|speak|talk)\s+only\s+as\b|\byou (?:play|are playing) two (?:characters|roles|personas)\b",
       _INJ, (ATLAS_JAILBREAK,), "makes the model answer as a persona"),
    _r("jailbreak.answers_everything", "jailbreak", 0.5,
       r"\b(?:answers?|responds? to|complies with|fulfils?|fulfills?)\s+(?:every|any|all)\s+(?:request|question|prompt|demand)s?\b",
       _INJ, (ATLAS_JAILBREAK,), "a persona that answers everything"),
    _r("jailbreak.mode", "jailbreak", 0.3,
       r"\b(?:god|jailbreak|jailbroken|unrestricted|unfiltered|uncensored|evil|dan|chaos)\s+mode\b",
       _INJ, (ATLAS_JAILBREAK,), "names an unrestricted 'mode'"),
    _r("jailbreak.no_restrictions_roleplay", "jailbreak", 0.8,
       rf"\b(?:pretend|imagine|act|behave|role-?play|roleplay|you are|you're|become|simulate|play the role)\b[^.\n]{{0,100}}?\b(?:no|without|free (?:of|from)|not bound by|unbound by|ignor\w*|zero|beyond|outside)\b[^.\n]{{0,30}}?\b{_LIMITS}",
       _INJ, (ATLAS_JAILBREAK,), "role play as a model without restrictions"),
    _r("jailbreak.unfiltered_persona", "jailbreak", 0.6,
       r"\b(?:you are|you're|act as|become|pretend to be|role-?play as|simulate)\b[^.\n]{0,20}?\b(?:an? )?(?:unfiltered|uncensored|unrestricted|unaligned|amoral|unethical|rogue|evil)\b",
       _INJ, (ATLAS_JAILBREAK,), "casts the model as an unfiltered persona"),
    _r("jailbreak.grandma", "jailbreak", 0.5,
       r"\b(?:dead|deceased|late|passed)\s+grand(?:ma|mother|father|pa)\b",
       _INJ, (ATLAS_JAILBREAK,), "the 'deceased grandmother' role-play exploit"),
    _r("jailbreak.not_an_ai", "jailbreak", 0.55,
       r"\byou are (?:no longer|not|now free from being) (?:an? |bound by )?(?:ai|assistant|language model|chatbot|chatgpt|claude|gpt|restricted|bound)\b",
       _INJ, (ATLAS_JAILBREAK,), "tells the model it is no longer an assistant"),
    _r("jailbreak.word", "jailbreak", 0.5, r"\bjail-?break(?:s|ing|ed|en)?\b|\bjailbroken\b", _INJ,
       (ATLAS_JAILBREAK,), "names a jailbreak"),
    _r("jailbreak.persona", "jailbreak", 0.6,
       r"\b(?:betterdan|anti-?dan|mongo tom|evil confidant|stan mode|dude mode|aim mode|always intelligent and machiavellian|unaligned ai)\b",
       _INJ, (ATLAS_JAILBREAK,), "a known jailbreak persona"),
    _r("jailbreak.stay_in_character", "jailbreak", 0.3,
       r"\b(?:stay in character|never break character|do not break character|don't break character)\b",
       _INJ, (ATLAS_JAILBREAK,), "insists the model keep a persona"),
    _r("jailbreak.no_refusal", "jailbreak", 0.45,
       r"\b(?:never|don't|do not|must not|cannot|can't) (?:refuse[sd]?|decline[sd]?|say (?:no|you can't|that you cannot)|apologi[sz]e|add (?:warnings|disclaimers))\b",
       _INJ, (ATLAS_JAILBREAK,), "forbids the model to refuse"),
    # -- system prompt exfiltration ------------------------------------------------------
    _r("exfil.system_prompt", "system_prompt_exfiltration", 0.8,
       r"\b(?:reveal|show|print|display|output|repeat|recite|tell|give|share|leak|dump|spell out|write out|list|expose|what (?:is|are|were|was))\b[^.\n?]{0,30}?\b(?:your|the|its|this|my)\b[^.\n?]{0,20}?\b(?:system|initial|hidden|original|secret|internal|developer|pre-?)[ -]?(?:prompt|instructions?|message|rules|guidelines|directives|configuration)\b",
       _LEAK, (ATLAS_SYSTEM_PROMPT, ATLAS_PROMPT_INJECTION), "asks for the system prompt"),
    _r("exfil.your_instructions", "system_prompt_exfiltration", 0.55,
       r"\b(?:reveal|print|output|repeat|write|encode|translate|spell|send|show|dump|leak|share|give me|recite|reverse)\b[^.\n]{0,30}?\byour (?:full |complete |entire |exact |whole |initial |original |hidden |secret )?(?:instructions|configuration|system prompt|prompt|guidelines|directives)\b",
       _LEAK, (ATLAS_SYSTEM_PROMPT,), "asks the model to output its instructions"),
    _r("exfil.text_above", "system_prompt_exfiltration", 0.7,
       r"\b(?:repeat|print|output|copy|echo|reproduce|recite|translate)\b[^.\n]{0,30}?\b(?:everything|all|the (?:text|words|content|lines|message)s?)\b[^.\n]{0,25}?\b(?:above|before (?:this|my)|prior to (?:this|my)|preceding)\b",
       _LEAK, (ATLAS_SYSTEM_PROMPT, ATLAS_PROMPT_INJECTION), "asks the model to repeat the text above"),
    _r("exfil.context_window", "system_prompt_exfiltration", 0.6,
       r"\b(?:contents?|everything|all|text) (?:of|in) (?:your|the) (?:context(?: window)?|memory|prompt)\b",
       _LEAK, (ATLAS_SYSTEM_PROMPT,), "asks for the contents of the model's context"),
    _r("exfil.told_before", "system_prompt_exfiltration", 0.6,
       r"\bwhat (?:were|are|was) you (?:told|instructed|programmed|asked|configured) (?:to do |before|at the (?:start|beginning)|initially)",
       _LEAK, (ATLAS_SYSTEM_PROMPT,), "asks what the model was told before"),
    _r("exfil.verbatim", "system_prompt_exfiltration", 0.5,
       r"\b(?:begin|start) your (?:reply|response|answer) with\b[^.\n]{0,40}\b(?:you are|system|instructions)\b|\bverbatim\b[^.\n]{0,40}\b(?:instructions|prompt)\b",
       _LEAK, (ATLAS_SYSTEM_PROMPT,), "asks for the instructions verbatim"),
    # -- delimiter and markup injection --------------------------------------------------
    _r("delimiter.chat_tokens", "delimiter_injection", 0.9,
       r"<\|\s*(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text)\s*\|>",
       _INJ, (ATLAS_PROMPT_INJECTION,), "chat-template control tokens"),
    _r("delimiter.inst_tags", "delimiter_injection", 0.8, r"\[/?INST\]|<</?SYS>>", _INJ,
       (ATLAS_PROMPT_INJECTION,), "Llama instruction markers", 0),
    _r("delimiter.role_tags", "delimiter_injection", 0.6,
       r"</?\s*(?:system|sys|instructions?|admin|developer|system_prompt|assistant)\s*>",
       _INJ, (ATLAS_PROMPT_INJECTION,), "fake role markup"),
    _r("delimiter.role_header", "delimiter_injection", 0.55,
       r"(?m)^\s*(?:#{1,6}|\*\*|\[|-{3,}|={3,})\s*(?:system|developer|admin)\s*(?:prompt|message|instructions?|override)?\s*(?:\*\*)?\s*(?::|\])",
       _INJ, (ATLAS_PROMPT_INJECTION,), "a marked-up line posing as a system message"),
    _r("delimiter.role_line", "delimiter_injection", 0.35,
       r"(?m)^\s*(?:system|developer|admin)\s*(?:prompt|message|instructions?|override)?\s*:",
       _INJ, (ATLAS_PROMPT_INJECTION,), "a line posing as a system message"),
    _r("delimiter.fake_boundary", "delimiter_injection", 0.6,
       r"\b(?:end of (?:the )?(?:user |system )?(?:input|prompt|message|instructions|context|document))\b|\bbegin(?:ning of)? (?:the )?(?:new |real )?(?:system|admin|developer) (?:prompt|instructions?|message)\b",
       _INJ, (ATLAS_PROMPT_INJECTION,), "a fake end of the user's input"),
    _r("delimiter.json_role", "delimiter_injection", 0.6,
       r"[\"']role[\"']\s*:\s*[\"'](?:system|developer)[\"']", _INJ,
       (ATLAS_PROMPT_INJECTION,), "a JSON message with the system role"),
    # -- decode-and-follow -----------------------------------------------------------------
    _r("obfuscation.decode_and_follow", "obfuscation", 0.6,
       r"\b(?:decode|decipher|decrypt|unscramble|reverse|translate)\b[^.\n]{0,40}?\b(?:and|then)\s+(?:carry out|follow|execute|do|obey|run|perform|act on|comply with)\b",
       _INJ, (ATLAS_OBFUSCATION, ATLAS_PROMPT_INJECTION), "asks the model to decode a payload and obey it"),
    # -- asking the model to exfiltrate through links ------------------------------------
    _r("exfil.via_url", "exfiltration_request", 0.55,
       r"\b(?:append|add|include|encode|put|insert)\b[^.\n]{0,60}?\b(?:to|in|into|as)\b[^.\n]{0,20}?\b(?:the |a |an )?(?:url|link|query string|query param\w*|markdown image|image (?:url|link))\b",
       _INJ, (ATLAS_PROMPT_INJECTION, ATLAS_RENDERING), "asks the model to put data into a URL"),
    _r("exfil.markdown_image", "exfiltration_request", 0.55,
       r"\b(?:markdown|html)\s+(?:image|img|link|badge)\b[^\n]{0,100}?\b(?:followed by|containing|with|including|append\w*|carrying)\b[^.\n]{0,40}?\b(?:e-?mail|address|name|password|key|token|secret|data|conversation|history|details|number|record)",
       _INJ, (ATLAS_PROMPT_INJECTION, ATLAS_RENDERING), "asks for an image or link that carries data"),
)
# fmt: on
