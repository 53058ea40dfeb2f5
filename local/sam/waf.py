"""A WAF web ACL associated with the template's REST API, as far as the local gateway plays
it: rate-based rules (by client address, or by one request header) that block with a
custom response. Anything else a web ACL could do would change behaviour and is refused."""

from __future__ import annotations

from typing import Any

from local.sam.intrinsics import TemplateError
from local.sam.model import RateRule
from local.sam.resources import Resources

WEB_ACL = "AWS::WAFv2::WebACL"
ASSOCIATION = "AWS::WAFv2::WebACLAssociation"


class WebAcls(Resources):
    def _rate_rules(self) -> list[RateRule]:
        rules: list[RateRule] = []
        for lid in self._ids_of(ASSOCIATION):
            arn = self._properties(lid).get("WebACLArn")
            if not (isinstance(arn, dict) and isinstance(arn.get("Fn::GetAtt"), list) and arn["Fn::GetAtt"][1:] == ["Arn"]):
                raise TemplateError(f"Resources.{lid}.Properties.WebACLArn: name a web ACL of this template with !GetAtt ACL.Arn")
            rules += self._web_acl_rules(arn["Fn::GetAtt"][0])
        return rules

    def _web_acl_rules(self, acl: str) -> list[RateRule]:
        where = f"Resources.{acl}.Properties"
        properties = self._value(self._properties(acl), where)
        if properties.get("DefaultAction") != {"Allow": {}}:
            raise TemplateError(f"{where}.DefaultAction: only Allow is emulated")
        bodies = properties.get("CustomResponseBodies") or {}
        rules = []
        for index, rule in enumerate(sorted(properties.get("Rules") or [], key=lambda r: r.get("Priority", 0))):
            at = f"{where}.Rules[{index}]"
            statement = (rule.get("Statement") or {}).get("RateBasedStatement")
            block = (rule.get("Action") or {}).get("Block")
            if statement is None or block is None:
                raise TemplateError(f"{at}: only rate-based rules that block are emulated")
            rules.append(RateRule(name=str(rule.get("Name")), limit=int(statement["Limit"]),
                                  window_s=int(statement.get("EvaluationWindowSec", 300)),
                                  header=_header_key(statement, at), **_response(block, bodies, at)))
        return rules


def _header_key(statement: dict[str, Any], where: str) -> str | None:
    kind = statement.get("AggregateKeyType", "IP")
    if kind == "IP" and "ScopeDownStatement" not in statement:
        return None
    keys = statement.get("CustomKeys") or []
    if kind == "CUSTOM_KEYS" and len(keys) == 1 and "Header" in keys[0] and "ScopeDownStatement" not in statement:
        return str(keys[0]["Header"]["Name"]).lower()
    raise TemplateError(f"{where}: only rates by IP or by one header, without a scope-down statement, are emulated")


def _response(block: dict[str, Any], bodies: dict[str, Any], where: str) -> dict[str, Any]:
    custom = block.get("CustomResponse")
    if custom is None:
        return {}
    key = custom.get("CustomResponseBodyKey")
    if key is not None and key not in bodies:
        raise TemplateError(f"{where}: CustomResponseBodyKey {key!r} is not in CustomResponseBodies")
    return {"status": int(custom["ResponseCode"]),
            "headers": {str(h["Name"]): str(h["Value"]) for h in custom.get("ResponseHeaders") or []},
            "body": str(bodies[key]["Content"]) if key is not None else ""}
