//! The IAM policies that `template.yaml` gives its functions and its state
//! machine, evaluated the way IAM evaluates identity-based policies.
//!
//! The template is read with serde_yaml, where CloudFormation's short forms
//! (`!Sub`, `!Ref`, `!GetAtt`) arrive as tagged values. Pseudo parameters
//! (`AWS::Partition`, `AWS::Region`, `AWS::AccountId`, `AWS::StackName`),
//! parameters (their defaults) and resources (their physical names and ARNs,
//! made up for a [`TestStack`]) are substituted; SAM policy templates are
//! expanded from their definitions in SAM's `policy_templates.json`. A
//! request (action, resource ARN, condition keys) is allowed when an Allow
//! statement matches it and no Deny statement does; `*` and `?` wildcards
//! work as in IAM (actions without regard to case).
//!
//! Anything this evaluator does not understand (a managed policy, a policy
//! template it has no definition of, `NotAction`, an unknown condition
//! operator or intrinsic function) is a panic naming it, never a guess.

use serde_yaml::value::TaggedValue;
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The made-up deployment the template is resolved for.
#[derive(Clone, Debug)]
pub struct TestStack {
    /// `AWS::Partition`.
    pub partition: String,
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::AccountId`.
    pub account: String,
    /// `AWS::StackName`.
    pub stack_name: String,
}

impl Default for TestStack {
    fn default() -> Self {
        TestStack {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            stack_name: "vidstega".into(),
        }
    }
}

/// Allow or Deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Overrides any grant.
    Deny,
}

/// One condition of a statement: `operator` on `key` against any of `values`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// `StringLike`, `StringEquals`, `StringNotLike` or `StringNotEquals`.
    pub operator: String,
    /// The condition key, e.g. `s3:prefix`.
    pub key: String,
    /// Matched if any one matches (for the negated operators: if none does).
    pub values: Vec<String>,
}

/// One (action, resource, condition value) of a statement: the unit that is
/// used or unused. A statement with one condition key lists one grant per
/// value of it, so each allowed prefix is accounted for on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The role's resource in the template (e.g. `PlannerFunction`).
    pub role: String,
    /// Allow or Deny.
    pub effect: Effect,
    /// The action pattern, e.g. `s3:GetObject`.
    pub action: String,
    /// The resource pattern, resolved, e.g. `arn:aws:s3:::b/jobs/*`.
    pub resource: String,
    /// All must hold.
    pub conditions: Vec<Condition>,
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.effect == Effect::Deny {
            write!(f, "DENY ")?;
        }
        write!(f, "{} {} {}", self.role, self.action, self.resource)?;
        for c in &self.conditions {
            write!(f, " if {} {} {}", c.key, c.operator, c.values.join("|"))?;
        }
        Ok(())
    }
}

/// A request to authorise.
#[derive(Clone, Debug)]
pub struct Request {
    /// e.g. `s3:GetObject`.
    pub action: String,
    /// The resource's ARN.
    pub resource: String,
    /// Condition keys and their values (e.g. `s3:prefix`).
    pub context: BTreeMap<String, String>,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.action, self.resource)?;
        for (k, v) in &self.context {
            write!(f, " ({k} = {v:?})")?;
        }
        Ok(())
    }
}

/// A role's policies, as grants.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Every grant of every statement, in template order.
    pub grants: Vec<Grant>,
}

impl Policy {
    /// The indexes of the Allow grants that match `request`, or an empty
    /// list if none does or a Deny matches (an explicit deny wins).
    pub fn allowing(&self, request: &Request) -> Vec<usize> {
        let matching = |g: &Grant| {
            wildcard_match(
                &g.action.to_ascii_lowercase(),
                &request.action.to_ascii_lowercase(),
            ) && wildcard_match(&g.resource, &request.resource)
                && g.conditions.iter().all(|c| c.holds(&request.context))
        };
        if self
            .grants
            .iter()
            .any(|g| g.effect == Effect::Deny && matching(g))
        {
            return Vec::new();
        }
        (0..self.grants.len())
            .filter(|&i| self.grants[i].effect == Effect::Allow && matching(&self.grants[i]))
            .collect()
    }

    /// Whether `request` is allowed.
    pub fn allows(&self, request: &Request) -> bool {
        !self.allowing(request).is_empty()
    }
}

impl Condition {
    fn holds(&self, context: &BTreeMap<String, String>) -> bool {
        let value = context.get(&self.key);
        match self.operator.as_str() {
            "StringLike" => value.is_some_and(|v| self.values.iter().any(|p| wildcard_match(p, v))),
            "StringEquals" => value.is_some_and(|v| self.values.contains(v)),
            // IAM: a negated operator holds when the key is absent.
            "StringNotLike" => value.is_none_or(|v| !self.values.iter().any(|p| wildcard_match(p, v))),
            "StringNotEquals" => value.is_none_or(|v| !self.values.contains(v)),
            other => panic!("condition operator {other} is not supported by this evaluator"),
        }
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` any one character.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Greedy match with backtracking to the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// `template.yaml`, resolved for a [`TestStack`].
pub struct Template {
    root: Mapping,
    stack: TestStack,
}

fn key(s: &str) -> Value {
    Value::String(s.to_string())
}

fn as_str<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v:?}"))
}

fn strings(v: &Value, what: &str) -> Vec<String> {
    match v {
        Value::Sequence(items) => items.iter().map(|i| as_str(i, what).to_string()).collect(),
        Value::String(s) => vec![s.clone()],
        other => panic!("{what} is neither a string nor a list: {other:?}"),
    }
}

impl Template {
    /// Reads and parses the template at `path`.
    pub fn load(path: &Path, stack: TestStack) -> Self {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Self::parse(&text, stack)
    }

    /// Parses a template.
    pub fn parse(text: &str, stack: TestStack) -> Self {
        let root: Value = serde_yaml::from_str(text).expect("the template is YAML");
        let Value::Mapping(root) = root else {
            panic!("the template is not a mapping")
        };
        Template { root, stack }
    }

    /// The stack it is resolved for.
    pub fn stack(&self) -> &TestStack {
        &self.stack
    }

    fn resources(&self) -> &Mapping {
        self.root
            .get(key("Resources"))
            .and_then(Value::as_mapping)
            .expect("the template has Resources")
    }

    fn resource(&self, logical: &str) -> &Mapping {
        self.resources()
            .get(key(logical))
            .and_then(Value::as_mapping)
            .unwrap_or_else(|| panic!("no resource {logical} in the template"))
    }

    /// A resource's `Type`.
    pub fn resource_type(&self, logical: &str) -> &str {
        as_str(&self.resource(logical)[&key("Type")], "Type")
    }

    /// A resource's property, unresolved.
    pub fn property(&self, logical: &str, name: &str) -> Option<&Value> {
        self.resource(logical)
            .get(key("Properties"))
            .and_then(Value::as_mapping)
            .and_then(|p| p.get(key(name)))
    }

    /// The resources with a `Policies` property (the SAM functions and the
    /// state machine), in template order.
    pub fn roles(&self) -> Vec<String> {
        self.resources()
            .iter()
            .filter(|(_, r)| r.get("Properties").and_then(|p| p.get("Policies")).is_some())
            .map(|(k, _)| as_str(k, "a resource name").to_string())
            .collect()
    }

    /// The physical name of a resource: its name property if it has one,
    /// else a CloudFormation-like `<stack>-<logical id>-TESTID`.
    pub fn physical_name(&self, logical: &str) -> String {
        let name_property = match self.resource_type(logical) {
            "AWS::S3::Bucket" => "BucketName",
            "AWS::DynamoDB::Table" => "TableName",
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => "FunctionName",
            "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine" => "Name",
            "AWS::SQS::Queue" => "QueueName",
            "AWS::Logs::LogGroup" => "LogGroupName",
            other => panic!("no physical name known for {logical} ({other})"),
        };
        match self.property(logical, name_property) {
            Some(v) => self.resolve_string(v),
            None => format!("{}-{logical}-TESTID", self.stack.stack_name),
        }
    }

    fn arn_of(&self, logical: &str) -> String {
        let TestStack {
            partition: p,
            region: r,
            account: a,
            ..
        } = &self.stack;
        let name = self.physical_name(logical);
        match self.resource_type(logical) {
            "AWS::S3::Bucket" => format!("arn:{p}:s3:::{name}"),
            "AWS::DynamoDB::Table" => format!("arn:{p}:dynamodb:{r}:{a}:table/{name}"),
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
                format!("arn:{p}:lambda:{r}:{a}:function:{name}")
            }
            "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine" => {
                format!("arn:{p}:states:{r}:{a}:stateMachine:{name}")
            }
            "AWS::SQS::Queue" => format!("arn:{p}:sqs:{r}:{a}:{name}"),
            "AWS::Logs::LogGroup" => format!("arn:{p}:logs:{r}:{a}:log-group:{name}:*"),
            other => panic!("no ARN known for {logical} ({other})"),
        }
    }

    /// What `!Ref name` gives: a pseudo parameter, a parameter's default, or
    /// a resource's name (its ARN for a state machine, its URL for a queue).
    pub fn reference(&self, name: &str) -> String {
        let s = &self.stack;
        match name {
            "AWS::Partition" => return s.partition.clone(),
            "AWS::Region" => return s.region.clone(),
            "AWS::AccountId" => return s.account.clone(),
            "AWS::StackName" => return s.stack_name.clone(),
            "AWS::URLSuffix" => return "amazonaws.com".into(),
            _ => {}
        }
        if let Some(param) = self.root.get(key("Parameters")).and_then(|p| p.get(key(name))) {
            let default = param
                .get("Default")
                .unwrap_or_else(|| panic!("parameter {name} has no default"));
            return match default {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => panic!("parameter {name}'s default {other:?} is not a scalar"),
            };
        }
        match self.resource_type(name) {
            "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine" => self.arn_of(name),
            "AWS::SQS::Queue" => format!(
                "https://sqs.{}.amazonaws.com/{}/{}",
                s.region,
                s.account,
                self.physical_name(name)
            ),
            _ => self.physical_name(name),
        }
    }

    /// What `!GetAtt logical.attribute` gives.
    pub fn attribute(&self, logical: &str, attribute: &str) -> String {
        match attribute {
            "Arn" => self.arn_of(logical),
            "Name" | "QueueName" => self.physical_name(logical),
            other => panic!("!GetAtt {logical}.{other} is not supported by this evaluator"),
        }
    }

    fn substitute(&self, text: &str, vars: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .unwrap_or_else(|| panic!("unclosed ${{ in {text:?}"));
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else if let Some(v) = vars.get(name) {
                out.push_str(v);
            } else if let Some((logical, attr)) = name.split_once('.') {
                out.push_str(&self.attribute(logical, attr));
            } else {
                out.push_str(&self.reference(name));
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Resolves an intrinsic function or a plain scalar to a string.
    pub fn resolve_string(&self, v: &Value) -> String {
        self.resolve_string_with(v, &BTreeMap::new())
    }

    fn resolve_string_with(&self, v: &Value, refs: &BTreeMap<String, Value>) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Tagged(t) => self.resolve_tagged(t, refs),
            Value::Mapping(m) if m.len() == 1 => {
                // The long forms: {"Fn::Sub": ...}, {"Ref": ...}, {"Fn::GetAtt": ...}.
                let (k, inner) = m.iter().next().expect("one entry");
                let tag = match as_str(k, "an intrinsic function") {
                    "Ref" => "Ref",
                    "Fn::Sub" => "Sub",
                    "Fn::GetAtt" => "GetAtt",
                    other => panic!("intrinsic function {other} is not supported by this evaluator"),
                };
                self.resolve_tagged(
                    &TaggedValue {
                        tag: serde_yaml::value::Tag::new(tag),
                        value: inner.clone(),
                    },
                    refs,
                )
            }
            other => panic!("cannot resolve {other:?} to a string"),
        }
    }

    /// `refs`: a policy template's parameters (what `!Ref` names first).
    fn resolve_tagged(&self, t: &TaggedValue, refs: &BTreeMap<String, Value>) -> String {
        let tag = t.tag.to_string();
        match tag.trim_start_matches('!') {
            "Ref" => {
                let name = as_str(&t.value, "!Ref");
                match refs.get(name) {
                    Some(v) => self.resolve_string(v),
                    None => self.reference(name),
                }
            }
            "GetAtt" => {
                let (logical, attr) = match &t.value {
                    Value::String(s) => s
                        .split_once('.')
                        .map(|(l, a)| (l.to_string(), a.to_string()))
                        .unwrap_or_else(|| panic!("!GetAtt {s} names no attribute")),
                    Value::Sequence(parts) if parts.len() == 2 => (
                        as_str(&parts[0], "!GetAtt").to_string(),
                        as_str(&parts[1], "!GetAtt").to_string(),
                    ),
                    other => panic!("!GetAtt {other:?} is not understood"),
                };
                self.attribute(&logical, &attr)
            }
            "Sub" => match &t.value {
                Value::String(s) => self.substitute(s, &BTreeMap::new()),
                Value::Sequence(parts) if parts.len() == 2 => {
                    let vars = parts[1]
                        .as_mapping()
                        .expect("!Sub's variables are a mapping")
                        .iter()
                        .map(|(k, v)| {
                            (
                                as_str(k, "a !Sub variable").to_string(),
                                self.resolve_string_with(v, refs),
                            )
                        })
                        .collect();
                    self.substitute(as_str(&parts[0], "!Sub"), &vars)
                }
                other => panic!("!Sub {other:?} is not understood"),
            },
            other => panic!("intrinsic function !{other} is not supported by this evaluator"),
        }
    }

    /// The grants of `role`'s `Policies`.
    pub fn policy(&self, role: &str) -> Policy {
        if let Some(globals) = self.root.get(key("Globals")) {
            for section in ["Function", "StateMachine"] {
                assert!(
                    globals.get(section).and_then(|g| g.get("Policies")).is_none(),
                    "Globals.{section}.Policies is not supported by this evaluator"
                );
            }
        }
        let policies = self
            .property(role, "Policies")
            .unwrap_or_else(|| panic!("{role} has no Policies"));
        let policies = match policies {
            Value::Sequence(items) => items.clone(),
            other => vec![other.clone()],
        };
        let mut grants = Vec::new();
        for p in &policies {
            let (statements, refs) = match p {
                Value::String(name) => {
                    panic!("{role} uses the managed policy {name}, which this evaluator cannot expand")
                }
                Value::Mapping(m) if m.contains_key(key("Statement")) => {
                    (m[&key("Statement")].clone(), BTreeMap::new())
                }
                Value::Mapping(m) if m.len() == 1 => {
                    let (name, params) = m.iter().next().expect("one entry");
                    sam_policy_template(as_str(name, "a policy template name"), params)
                }
                other => panic!("{role} has a policy this evaluator does not understand: {other:?}"),
            };
            let statements = match statements {
                Value::Sequence(s) => s,
                other => vec![other],
            };
            for s in &statements {
                grants.extend(self.statement_grants(role, s, &refs));
            }
        }
        Policy { grants }
    }

    fn statement_grants(&self, role: &str, s: &Value, refs: &BTreeMap<String, Value>) -> Vec<Grant> {
        let s = s.as_mapping().expect("a statement is a mapping");
        for k in s.keys() {
            let k = as_str(k, "a statement key");
            assert!(
                matches!(k, "Effect" | "Action" | "Resource" | "Condition" | "Sid"),
                "{role}: statement key {k} is not supported by this evaluator"
            );
        }
        let effect = match as_str(&s[&key("Effect")], "Effect") {
            "Allow" => Effect::Allow,
            "Deny" => Effect::Deny,
            other => panic!("{role}: Effect {other}"),
        };
        let actions = strings(&s[&key("Action")], "Action");
        let resources: Vec<String> = match &s[&key("Resource")] {
            Value::Sequence(items) => items.iter().map(|i| self.resolve_string_with(i, refs)).collect(),
            v => vec![self.resolve_string_with(v, refs)],
        };
        let mut conditions = Vec::new();
        if let Some(c) = s.get(key("Condition")) {
            for (operator, keys) in c.as_mapping().expect("Condition is a mapping") {
                for (k, values) in keys.as_mapping().expect("a condition operator maps keys") {
                    let values = match values {
                        Value::Sequence(items) => {
                            items.iter().map(|i| self.resolve_string_with(i, refs)).collect()
                        }
                        v => vec![self.resolve_string_with(v, refs)],
                    };
                    conditions.push(Condition {
                        operator: as_str(operator, "a condition operator").to_string(),
                        key: as_str(k, "a condition key").to_string(),
                        values,
                    });
                }
            }
        }
        // One grant per value of a single condition key, so each is
        // accounted for on its own.
        let variants: Vec<Vec<Condition>> = match conditions.as_slice() {
            [only] if matches!(only.operator.as_str(), "StringLike" | "StringEquals") => only
                .values
                .iter()
                .map(|v| {
                    vec![Condition {
                        values: vec![v.clone()],
                        ..only.clone()
                    }]
                })
                .collect(),
            _ => vec![conditions],
        };
        let mut grants = Vec::new();
        for action in &actions {
            for resource in &resources {
                for conditions in &variants {
                    grants.push(Grant {
                        role: role.to_string(),
                        effect,
                        action: action.clone(),
                        resource: resource.clone(),
                        conditions: conditions.clone(),
                    });
                }
            }
        }
        grants
    }
}

/// A SAM policy template's statements (as in SAM's `policy_templates.json`)
/// and its parameters, for the templates `template.yaml` uses.
fn sam_policy_template(name: &str, params: &Value) -> (Value, BTreeMap<String, Value>) {
    let params: BTreeMap<String, Value> = params
        .as_mapping()
        .unwrap_or_else(|| panic!("{name}'s parameters are not a mapping"))
        .iter()
        .map(|(k, v)| (as_str(k, "a parameter").to_string(), v.clone()))
        .collect();
    let (definition, required): (&str, &[&str]) = match name {
        // samtranslator/policy_templates_data/policy_templates.json
        "LambdaInvokePolicy" => (
            r#"
- Effect: Allow
  Action: [lambda:InvokeFunction]
  Resource: !Sub
    - "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${functionName}*"
    - functionName: !Ref FunctionName
"#,
            &["FunctionName"],
        ),
        other => panic!(
            "SAM policy template {other} is not known to this evaluator: add its definition from \
             SAM's policy_templates.json"
        ),
    };
    for p in required {
        assert!(params.contains_key(*p), "{name} needs the parameter {p}");
    }
    (
        serde_yaml::from_str(definition).expect("a valid definition"),
        params,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_iam() {
        assert!(wildcard_match(
            "arn:aws:s3:::b/jobs/*",
            "arn:aws:s3:::b/jobs/j1/plan.json"
        ));
        assert!(wildcard_match(
            "arn:aws:s3:::b/jobs/*/plan.json",
            "arn:aws:s3:::b/jobs/j1/plan.json"
        ));
        assert!(!wildcard_match(
            "arn:aws:s3:::b/jobs/*/plan.json",
            "arn:aws:s3:::b/jobs/j1/items.json"
        ));
        assert!(wildcard_match("s3:Get?bject", "s3:GetObject"));
        assert!(!wildcard_match("s3:Get?bject", "s3:GetObjectAcl"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("arn:aws:s3:::b", "arn:aws:s3:::b/x"));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
    }

    const TEMPLATE: &str = r#"
Parameters:
  Suffix:
    Type: String
    Default: media
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${AWS::StackName}-${Suffix}-${AWS::AccountId}"
  Table:
    Type: AWS::DynamoDB::Table
  Worker:
    Type: AWS::Serverless::Function
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - LambdaInvokePolicy:
            FunctionName: !Ref Worker
        - Statement:
            - Effect: Allow
              Action: [s3:GetObject, "s3:Put*"]
              Resource: !Sub "${Bucket.Arn}/jobs/*"
            - Effect: Deny
              Action: s3:PutObject
              Resource: !Sub "arn:${AWS::Partition}:s3:::${Bucket}/jobs/secret"
            - Effect: Allow
              Action: dynamodb:GetItem
              Resource: !GetAtt Table.Arn
            - Effect: Allow
              Action: s3:ListBucket
              Resource: !GetAtt [Bucket, Arn]
              Condition:
                StringLike:
                  s3:prefix: ["jobs/*", "uploads/*"]
"#;

    fn request(action: &str, resource: &str, prefix: Option<&str>) -> Request {
        Request {
            action: action.into(),
            resource: resource.into(),
            context: prefix
                .map(|p| [("s3:prefix".to_string(), p.to_string())].into())
                .unwrap_or_default(),
        }
    }

    #[test]
    fn statements_resolve_and_decide_like_iam() {
        let t = Template::parse(TEMPLATE, TestStack::default());
        assert_eq!(t.roles(), ["Fn"]);
        let p = t.policy("Fn");
        let bucket = "arn:aws:s3:::vidstega-media-123456789012";
        assert!(p.allows(&request("s3:getobject", &format!("{bucket}/jobs/a"), None)));
        assert!(p.allows(&request("s3:PutObject", &format!("{bucket}/jobs/a"), None)));
        assert!(!p.allows(&request("s3:PutObject", &format!("{bucket}/jobs/secret"), None)));
        assert!(!p.allows(&request("s3:GetObject", &format!("{bucket}/uploads/a"), None)));
        assert!(p.allows(&request(
            "dynamodb:GetItem",
            "arn:aws:dynamodb:us-east-1:123456789012:table/vidstega-Table-TESTID",
            None
        )));
        assert!(p.allows(&request("s3:ListBucket", bucket, Some("uploads/x"))));
        assert!(!p.allows(&request("s3:ListBucket", bucket, Some("outputs/x"))));
        assert!(!p.allows(&request("s3:ListBucket", bucket, None)));
        // One grant per prefix.
        let list: Vec<String> = p
            .grants
            .iter()
            .filter(|g| g.action == "s3:ListBucket")
            .map(|g| g.to_string())
            .collect();
        assert_eq!(list.len(), 2, "{list:?}");
    }

    #[test]
    fn sam_policy_templates_are_expanded() {
        let t = Template::parse(TEMPLATE, TestStack::default());
        let p = t.policy("Fn");
        let worker = "arn:aws:lambda:us-east-1:123456789012:function:vidstega-Worker-TESTID";
        assert!(p.allows(&request("lambda:InvokeFunction", worker, None)));
        assert!(p.allows(&request("lambda:InvokeFunction", &format!("{worker}:live"), None)));
        assert!(!p.allows(&request(
            "lambda:InvokeFunction",
            "arn:aws:lambda:us-east-1:123456789012:function:other",
            None
        )));
    }

    #[test]
    #[should_panic(expected = "not known to this evaluator")]
    fn unknown_policy_templates_are_refused() {
        let t = Template::parse(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies:\n        - S3ReadPolicy:\n            BucketName: b\n",
            TestStack::default(),
        );
        t.policy("F");
    }
}
