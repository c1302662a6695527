//! Golden tests: templates in, functions or exact `file:line:col` messages out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/sam/testdata")
        .join(rel)
}

/// Diagnostics as printed, with the file reduced to its name so goldens do not depend on
/// where the repository lives.
fn render(diags: &[Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .map(|d| {
            let mut d = d.clone();
            let name = d.file.file_name().map(PathBuf::from).unwrap_or_default();
            d.file = Arc::from(name.as_path());
            d.to_string()
        })
        .collect()
}

fn load(rel: &str, text: &str) -> Result<Template, Vec<String>> {
    load_template_str(&testdata(rel), text, &TemplateOptions::default()).map_err(|d| render(&d))
}

fn errors(rel: &str, text: &str) -> Vec<String> {
    match load(rel, text) {
        Ok(t) => panic!("expected errors, got {t:#?}"),
        Err(e) => e,
    }
}

#[test]
fn the_course_template_runs_its_image_natively() {
    let t = load_template(
        &testdata("course/template.yaml"),
        &TemplateOptions::default(),
    )
    .map_err(|d| render(&d))
    .expect("loads");
    let f = t.function("MyFunction").expect("function");
    assert_eq!(f.runtime.to_string(), "nodejs18.x");
    assert_eq!(f.handler, "index.handler");
    assert_eq!(f.memory_mb, 512);
    assert_eq!(f.timeout, Duration::from_secs(30));
    assert_eq!(
        f.environment.get("NODE_ENV").map(String::as_str),
        Some("production")
    );
    let Code::Layout(copies) = &f.code else {
        panic!("image code is a layout: {:?}", f.code)
    };
    assert_eq!(copies.len(), 1);
    assert!(copies[0].src.ends_with("app/index.js"));
    assert_eq!(copies[0].dest, PathBuf::from("index.js"));
    assert_eq!(f.routes.len(), 1);
    let r = &f.routes[0];
    assert_eq!(
        (r.kind, r.path.as_deref(), r.payload),
        (ApiKind::Rest, Some("/hello"), PayloadFormat::V1)
    );
    assert_eq!(r.method, RouteMethod::Method("GET".into()));
    assert_eq!(r.api, IMPLICIT_REST_API);
    let api = t.api(IMPLICIT_REST_API).expect("implicit api");
    assert_eq!(api.stage, "Prod");
    assert_eq!(t.outputs.len(), 1);
    assert_eq!(
        t.outputs[0].value,
        format!(
            "https://{}.execute-api.us-east-1.amazonaws.com/Prod/hello",
            api.id
        )
    );
}

#[test]
fn the_course_dynamodb_template_loads_with_a_warning_for_the_missing_module() {
    let t = load_template(
        &testdata("course/dynamodb-template.yaml"),
        &TemplateOptions::default(),
    )
    .map_err(|d| render(&d))
    .expect("loads");
    let f = t.function("CreateUserFunction").expect("function");
    assert_eq!(
        f.environment.get("TABLE_NAME").map(String::as_str),
        Some("Users")
    );
    assert_eq!(f.routes[0].method, RouteMethod::Method("POST".into()));
    assert_eq!(t.tables.len(), 1);
    assert_eq!(t.tables[0].name, "Users");
    assert_eq!(t.tables[0].hash_key.name, "userId");
    assert_eq!(t.tables[0].billing_mode, "PAY_PER_REQUEST");
    let w = render(&t.warnings);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("dynamodb-template.yaml:20:16: warning: CreateUserFunction: Properties.Handler: handler module users"), "{}", w[0]);
}

#[test]
fn intrinsics_globals_parameters_and_conditions() {
    let text = r#"
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  Mem:
    Type: Number
    Default: 256
  Names:
    Type: CommaDelimitedList
    Default: "a,b,c"
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
  Both: !And [{Condition: NotProd}, !Equals ["1", "1"]]
Mappings:
  Sizes:
    dev: {Timeout: 7}
Globals:
  Function:
    Runtime: python3.11
    Timeout: !FindInMap [Sizes, !Ref Stage, Timeout]
    CodeUri: zip/src
    Environment:
      Variables:
        GLOBAL: g
        SHARED: from-globals
  HttpApi:
    StageName: v1
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage
      Variables: {color: blue}
  PyFn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      MemorySize: !Ref Mem
      Environment:
        Variables:
          SHARED: local
          REGION: !Sub "${AWS::Region}-${AWS::AccountId}-${AWS::Partition}.${AWS::URLSuffix}"
          JOINED: !Join ["-", !Ref Names]
          SECOND: !Select [1, !Ref Names]
          ARN: !GetAtt NodeFn.Arn
          ARN2: !GetAtt [Table, Arn]
          LONG: {"Fn::Sub": ["${x}-${Stage}", {x: !Ref "AWS::StackName"}]}
          IFD: !If [IsProd, yes-prod, not-prod]
          GONE: !If [IsProd, x, !Ref AWS::NoValue]
          ESC: !Sub "${!Literal}"
          BOTH: !If [Both, both, neither]
          SPLIT: !Select [0, !Split ["/", "x/y"]]
      Events:
        Users:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /users/{id}
            Method: get
        Proxy:
          Type: HttpApi
          Properties:
            Path: /{proxy+}
            Method: ANY
        Default:
          Type: HttpApi
  NodeFn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      ReservedConcurrentExecutions: 2
  ProdOnly:
    Type: AWS::Serverless::Function
    Condition: IsProd
    Properties:
      Handler: app.handler
  Table:
    Type: AWS::Serverless::SimpleTable
  Named:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-named"
      Runtime: nodejs20.x
      Handler: index.handler
      Environment:
        Variables:
          SELF: !Ref Named
Outputs:
  Url:
    Value: !Sub "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com/"
"#;
    let opts = TemplateOptions {
        stack_name: Some("stack".into()),
        ..TemplateOptions::default()
    };
    let t = match load_template_str(&testdata("template.yaml"), text, &opts).map_err(|d| render(&d))
    {
        Ok(t) => t,
        Err(e) => panic!("{e:#?}"),
    };
    assert_eq!(
        t.functions.len(),
        3,
        "ProdOnly is excluded by its condition"
    );
    let named = t.function("Named").expect("by logical id");
    assert_eq!(named.name, "stack-named");
    assert_eq!(
        named.environment.get("SELF").map(String::as_str),
        Some("stack-named")
    );
    let py = t.function("PyFn").expect("PyFn");
    assert_eq!(py.runtime.to_string(), "python3.11");
    assert_eq!(py.memory_mb, 256);
    assert_eq!(py.timeout, Duration::from_secs(7));
    let env = |k: &str| py.environment.get(k).map(String::as_str);
    assert_eq!(env("GLOBAL"), Some("g"));
    assert_eq!(env("SHARED"), Some("local"));
    assert_eq!(
        env("REGION"),
        Some("us-east-1-123456789012-aws.amazonaws.com")
    );
    assert_eq!(env("JOINED"), Some("a-b-c"));
    assert_eq!(env("SECOND"), Some("b"));
    assert_eq!(
        env("ARN"),
        Some("arn:aws:lambda:us-east-1:123456789012:function:NodeFn")
    );
    assert_eq!(
        env("ARN2"),
        Some("arn:aws:dynamodb:us-east-1:123456789012:table/stack-Table")
    );
    assert_eq!(env("LONG"), Some("stack-dev"));
    assert_eq!(env("IFD"), Some("not-prod"));
    assert_eq!(env("GONE"), None);
    assert_eq!(env("ESC"), Some("${Literal}"));
    assert_eq!(env("BOTH"), Some("both"));
    assert_eq!(env("SPLIT"), Some("x"));
    let keys: Vec<String> = py.routes.iter().map(ApiRoute::route_key).collect();
    assert_eq!(keys, vec!["$default", "ANY /{proxy+}", "GET /users/{id}"]);
    assert_eq!(py.routes[2].api, "Api");
    let node = t.function("NodeFn").expect("NodeFn");
    assert_eq!(node.reserved_concurrency, Some(2));
    assert_eq!(node.timeout, Duration::from_secs(7));
    let api = t.api("Api").expect("Api");
    assert_eq!(api.stage, "dev");
    assert_eq!(
        api.stage_variables.get("color").map(String::as_str),
        Some("blue")
    );
    let http = t.api(IMPLICIT_HTTP_API).expect("implicit http api");
    assert_eq!(http.stage, "v1");
    assert_eq!(t.tables[0].hash_key.name, "id");
    assert_eq!(
        t.outputs[0].value,
        format!("https://{}.execute-api.us-east-1.amazonaws.com/", http.id)
    );
}

#[test]
fn parameter_overrides_apply_and_are_checked() {
    let text = "Transform: AWS::Serverless-2016-10-31\nParameters:\n  Stage:\n    Type: String\n    AllowedValues: [dev, prod]\nResources:\n  T:\n    Type: AWS::Serverless::SimpleTable\n    Properties:\n      TableName: !Sub \"t-${Stage}\"\n";
    let mut opts = TemplateOptions::default();
    opts.parameter_overrides
        .insert("Stage".into(), "prod".into());
    let t = load_template_str(&testdata("x/template.yaml"), text, &opts).expect("loads");
    assert_eq!(t.parameters["Stage"].value, "prod");
    opts.parameter_overrides.insert("Stage".into(), "qa".into());
    let e =
        render(&load_template_str(&testdata("x/template.yaml"), text, &opts).expect_err("refused"));
    assert_eq!(
        e,
        vec!["template.yaml:3:3: Parameters[Stage]: \"qa\" is not one of AllowedValues: dev, prod"]
    );
    let e = errors("x/template.yaml", text);
    assert_eq!(
        e,
        vec![
            "template.yaml:3:3: Parameters[Stage]: parameter Stage has no Default and no value was given (add a Default or pass a parameter override Stage=...)"
        ]
    );
}

#[test]
fn golden_errors_have_exact_positions() {
    let text = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 901
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs8.10
      Handler: index
      CodeUri: zip/src
      MemorySize: 64
      Timout: 3
      Environment:
        Variables:
          AWS_REGION: x
          TABLE: !Ref Tabel
          URL: !Sub "${ServerlessRestApi}/${Nope}"
          ATT: !GetAtt Fn.Bogus
      Events:
        A:
          Type: Api
          Properties:
            Path: users/{id}
            Method: GTE
        B:
          Type: HttpApi
          Properties:
            Path: /a/{rest+}/b
            Method: get
        C:
          Type: Api
          Properties:
            Path: /same
            Method: get
            RestApiId: !Ref Fn
  Other:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: java17
      Handler: x.y
      CodeUri: nowhere
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema:
        - AttributeName: pk
          KeyType: HASH
"#;
    let got = errors("template.yaml", text);
    let want = vec![
        "template.yaml:5:14: Fn: Properties.Timeout: 901 is out of range (1 to 900)",
        "template.yaml:10:16: Fn: Properties.Runtime: runtime \"nodejs8.10\" is not supported by Meridian (did you mean \"nodejs18.x\"?)",
        "template.yaml:13:19: Fn: Properties.MemorySize: 64 is out of range (128 to 10240)",
        "template.yaml:14:7: Fn: Properties.Timout: unknown field \"Timout\" (did you mean \"Timeout\"?)",
        "template.yaml:17:11: Fn: Properties.Environment.Variables[AWS_REGION]: AWS_REGION is a reserved environment variable that Lambda sets itself",
        "template.yaml:18:23: Fn: Properties.Environment.Variables.TABLE: !Ref Tabel: no parameter, resource or pseudo parameter has this name (did you mean \"Table\"?)",
        "template.yaml:19:21: Fn: Properties.Environment.Variables.URL: !Sub: ${Nope} is not a parameter, resource, pseudo parameter or variable",
        "template.yaml:20:24: Fn: Properties.Environment.Variables.ATT: !GetAtt Fn.Bogus: AWS::Serverless::Function has no attribute \"Bogus\" (supported: Arn)",
        "template.yaml:25:19: Fn: Properties.Events[A].Properties.Path: path \"users/{id}\" must start with /",
        "template.yaml:26:21: Fn: Properties.Events[A].Properties.Method: unsupported method \"GTE\" (did you mean \"get\"?)",
        "template.yaml:30:19: Fn: Properties.Events[B].Properties.Path: greedy parameter {rest+} must be the last segment of \"/a/{rest+}/b\"",
        "template.yaml:37:29: Fn: Properties.Events[C].Properties.RestApiId: \"Fn\" is not an AWS::Serverless::Api of this template (use !Ref to an AWS::Serverless::Api resource)",
        "template.yaml:41:16: Other: Properties.Runtime: runtime \"java17\" is not supported by Meridian (supported: nodejs18.x, nodejs20.x, nodejs22.x, nodejs24.x, python3.9, python3.10, python3.11, python3.12, python3.13, python3.14, ruby3.2, ruby3.3, ruby3.4, provided, provided.al2, provided.al2023)",
        "template.yaml:43:16: Other: Properties.CodeUri: CodeUri folder ",
        "template.yaml:46:5: Table: Properties: a PROVISIONED table needs ProvisionedThroughput (or BillingMode: PAY_PER_REQUEST)",
        "template.yaml:48:26: Table: Properties.KeySchema[0].AttributeName: key attribute \"pk\" is not in AttributeDefinitions",
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(&want) {
        assert!(g.starts_with(w), "\n got: {g}\nwant: {w}");
    }
}

#[test]
fn structural_errors() {
    // `sam local` runs SAM resources without the transform line; CloudFormation would not.
    let t = load(
        "x/template.yaml",
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {Runtime: python3.12, Handler: a.b, InlineCode: x}\n",
    )
    .expect("runs");
    assert_eq!(t.functions.len(), 1);
    assert_eq!(
        render(&t.warnings),
        vec![
            "template.yaml:3:11: warning: Transform: AWS::Serverless resources need the SAM transform to deploy: CloudFormation refuses this template without it; Meridian runs it as `sam local` does (add \"Transform: AWS::Serverless-2016-10-31\" at the top level)"
        ]
    );
    let e = errors(
        "x/template.yaml",
        "Transform: AWS::Serverless-2016-10-31\nResorces: {}\n",
    );
    assert_eq!(
        e,
        vec![
            "template.yaml:1:1: the template has no Resources section",
            "template.yaml:2:1: Resorces: unknown field \"Resorces\" (did you mean \"Resources\"?)",
        ]
    );
    let e = errors(
        "x/template.yaml",
        "Transform: AWS::Serverless-2016-10-31\nConditions:\n  A: !Condition B\n  B: !Not [!Condition A]\nResources:\n  T: {Type: AWS::Serverless::SimpleTable}\n",
    );
    assert_eq!(
        e,
        vec!["template.yaml:4:23: Conditions[B]: condition \"A\" refers to itself"]
    );
    let e = errors(
        "x/template.yaml",
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  T:\n    Type: AWS::Serverless::SimpleTable\n    Properties:\n      TableName: !Refx A\n",
    );
    assert_eq!(
        e,
        vec![
            "template.yaml:6:24: T: Properties.TableName: unknown intrinsic function !Refx (did you mean !Ref?)"
        ]
    );
}

#[test]
fn duplicate_routes_are_refused() {
    let text = "Transform: AWS::Serverless-2016-10-31\nGlobals:\n  Function: {Runtime: nodejs20.x, Handler: index.handler, CodeUri: zip/src}\nResources:\n  A:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        E: {Type: Api, Properties: {Path: /x, Method: get}}\n  B:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        E: {Type: Api, Properties: {Path: /x, Method: GET}}\n";
    let e = errors("template.yaml", text);
    assert_eq!(
        e,
        vec![
            "template.yaml:14:12: B: Properties.Events[E]: route GET /x of ServerlessRestApi is already served by A"
        ]
    );
}

#[test]
fn an_image_on_another_base_gets_a_clear_error() {
    let e = load_template(
        &testdata("badimage/template.yaml"),
        &TemplateOptions::default(),
    )
    .map_err(|d| render(&d))
    .expect_err("refused");
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(
        e.iter().any(|m| m
            .starts_with("Dockerfile:2:6: COPY destination /app is outside ${LAMBDA_TASK_ROOT}")),
        "{e:#?}"
    );
    assert!(e.iter().any(|m| m.starts_with("Dockerfile:1:6: base image \"node:18-alpine\" is not an AWS Lambda base image; Meridian runs functions natively from images built FROM public.ecr.aws/lambda/nodejs:<18|20|22>")), "{e:#?}");
    assert!(
        e.iter().any(|m| m.starts_with(
            "template.yaml:6:20: Fn: Properties.PackageType: cannot run the image natively"
        )),
        "{e:#?}"
    );
}

#[test]
fn a_python_image_is_read_from_its_dockerfile() {
    let t = load_template(
        &testdata("pyimage/template.yaml"),
        &TemplateOptions::default(),
    )
    .map_err(|d| render(&d))
    .expect("loads");
    let f = t.function("PyImage").expect("function");
    assert_eq!(f.runtime.to_string(), "python3.12");
    assert_eq!(f.handler, "app.handler");
    assert_eq!(f.working_dir, PathBuf::from("pkg"));
    let env = |k: &str| f.environment.get(k).map(String::as_str);
    assert_eq!(env("STAGE"), Some("prod"));
    assert_eq!(env("GREETING"), Some("hello there"));
    assert_eq!(env("EXTRA"), Some("from-template"));
    let Code::Layout(copies) = &f.code else {
        panic!("image code is a layout: {:?}", f.code)
    };
    let got: Vec<(String, bool)> = copies
        .iter()
        .map(|c| (c.dest.display().to_string(), c.is_dir))
        .collect();
    assert_eq!(
        got,
        vec![
            ("requirements.txt".to_owned(), false),
            (String::new(), true)
        ]
    );
    let w = render(&t.warnings);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("Dockerfile:6:1: warning: PyImage: RUN steps are not executed"),
        "{}",
        w[0]
    );
}

const LAYERS: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: nodejs20.x
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      CodeUri: src/
      Layers:
        - !Ref Shared
        - arn:aws:lambda:us-east-1:123456789012:layer:remote:3
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: shared-deps
      ContentUri: shared/
      CompatibleRuntimes: [nodejs20.x]
"#;

#[test]
fn layers_of_the_template_are_used_and_remote_ones_reported() {
    let t = load("layers/template.yaml", LAYERS).expect("loads");
    let f = t.function("Fn").expect("function");
    assert_eq!(f.layers, vec![testdata("layers").join("shared/")]);
    let w = render(&t.warnings);
    assert_eq!(
        w,
        [
            "template.yaml:14:11: warning: Fn: Properties.Layers[1]: layer arn:aws:lambda:us-east-1:123456789012:layer:remote:3 is not in this template: Meridian does not download layers (declare it as an AWS::Serverless::LayerVersion with a local ContentUri, or vendor its contents into the function's code)"
        ]
    );
}

#[test]
fn layer_mistakes_have_positions() {
    let text = LAYERS
        .replace("ContentUri: shared/", "ContentUri: missing/")
        .replace("CompatibleRuntimes", "CompatibleRuntime");
    let e: Vec<String> = errors("layers/template.yaml", &text)
        .into_iter()
        .filter(|l| !l.contains(": warning: "))
        .collect();
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("template.yaml:19:19: Shared: Properties.ContentUri: ContentUri folder")
            && e[0].ends_with("layers/missing/ does not exist"),
        "{}",
        e[0]
    );
    assert_eq!(
        e[1],
        "template.yaml:20:7: Shared: Properties.CompatibleRuntime: unknown field \"CompatibleRuntime\" (did you mean \"CompatibleRuntimes\"?)"
    );
    let six = LAYERS.replace(
        "        - !Ref Shared\n",
        &"        - !Ref Shared\n".repeat(6),
    );
    let e = errors("layers/template.yaml", &six);
    assert!(
        e.iter()
            .any(|l| l.contains("Properties.Layers: 7 layers: a function can use at most 5")),
        "{e:?}"
    );
}

#[test]
fn event_invoke_config_is_read_with_lambdas_bounds_and_destinations() {
    let text = r#"Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.12, Handler: index.handler, InlineCode: x}
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      EventInvokeConfig:
        MaximumEventAgeInSeconds: 120
        MaximumRetryAttempts: 1
        DestinationConfig:
          OnFailure:
            Type: Lambda
            Destination: !GetAtt Failures.Arn
          OnSuccess:
            Type: SQS
            Destination: arn:aws:sqs:us-east-1:123456789012:done
  ByRef:
    Type: AWS::Serverless::Function
    Properties:
      EventInvokeConfig:
        DestinationConfig:
          OnFailure: {Type: Lambda, Destination: !Ref Failures}
          OnSuccess: {Type: Lambda, Destination: "arn:aws:lambda:us-east-1:123456789012:function:Elsewhere"}
  Failures:
    Type: AWS::Serverless::Function
  Plain:
    Type: AWS::Serverless::Function
"#;
    let t = load("x/template.yaml", text).unwrap_or_else(|e| panic!("{e:#?}"));
    let worker = &t.function("Worker").expect("Worker").event_invoke;
    assert_eq!(worker.maximum_event_age, Duration::from_secs(120));
    assert_eq!(worker.maximum_retry_attempts, 1);
    assert_eq!(worker.on_failure.as_deref(), Some("Failures"));
    assert_eq!(worker.on_success, None);
    let by_ref = &t.function("ByRef").expect("ByRef").event_invoke;
    assert_eq!(by_ref.on_failure.as_deref(), Some("Failures"));
    assert_eq!(by_ref.on_success, None);
    assert_eq!(
        t.function("Plain").expect("Plain").event_invoke,
        EventInvokeConfig {
            maximum_event_age: Duration::from_secs(21_600),
            maximum_retry_attempts: 2,
            on_success: None,
            on_failure: None,
        }
    );
    assert_eq!(
        render(&t.warnings),
        vec![
            "template.yaml:16:19: warning: Worker: Properties.EventInvokeConfig.DestinationConfig.OnSuccess.Type: SQS destinations are accepted but not delivered by Meridian (Lambda destinations are)",
            "template.yaml:24:50: warning: ByRef: Properties.EventInvokeConfig.DestinationConfig.OnSuccess.Destination: function \"Elsewhere\" is not in this template: Meridian does not deliver records to it",
        ]
    );
}

#[test]
fn the_course_function_gets_the_crud_policy_on_its_table() {
    let t = load_template(
        &testdata("course/dynamodb-template.yaml"),
        &TemplateOptions::default(),
    )
    .map_err(|d| render(&d))
    .expect("loads");
    let f = t.function("CreateUserFunction").expect("function");
    assert_eq!(f.policies.len(), 1);
    let p = &f.policies[0];
    assert_eq!(p.effect, Effect::Allow);
    let Patterns::AnyOf(actions) = &p.actions else {
        panic!("{p:?}")
    };
    assert_eq!(actions.len(), 10);
    assert!(actions.contains(&"dynamodb:PutItem".to_owned()));
    assert!(actions.contains(&"dynamodb:ConditionCheckItem".to_owned()));
    assert_eq!(
        p.resources,
        Patterns::AnyOf(vec![
            "arn:aws:dynamodb:us-east-1:123456789012:table/Users".into(),
            "arn:aws:dynamodb:us-east-1:123456789012:table/Users/index/*".into(),
        ])
    );
}

#[test]
fn policies_expand_templates_managed_policies_and_documents() {
    let text = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  T:
    Type: AWS::Serverless::SimpleTable
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      InlineCode: "def handler(e, c): return 1"
      Policies:
        - AWSLambdaBasicExecutionRole
        - arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess
        - DynamoDBReadPolicy: {TableName: !Ref T}
        - DynamoDBStreamReadPolicy: {TableName: !Ref T, StreamName: "*"}
        - SQSPollerPolicy: {QueueName: q}
        - Version: "2012-10-17"
          Statement:
            - Effect: Deny
              NotAction: dynamodb:GetItem
              Resource: !GetAtt T.Arn
            - Effect: Allow
              Action: [dynamodb:PutItem]
              Resource: "*"
              Condition: {StringEquals: {"aws:username": x}}
  Single:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      InlineCode: "def handler(e, c): return 1"
      Policies: DynamoDBCrudPolicy
"#;
    // A bare template name is a managed policy name to SAM; Meridian does not know it.
    let t = load("template.yaml", text).expect("loads");
    let stmts = &t.function("Fn").expect("fn").policies;
    let table = "arn:aws:dynamodb:us-east-1:123456789012:table/testdata-T";
    assert_eq!(stmts.len(), 5, "{stmts:#?}");
    assert_eq!(stmts[0].resources, Patterns::AnyOf(vec!["*".into()]));
    assert_eq!(
        stmts[1].resources,
        Patterns::AnyOf(vec![table.into(), format!("{table}/index/*")])
    );
    assert_eq!(
        stmts[2].resources,
        Patterns::AnyOf(vec![format!("{table}/stream/*")])
    );
    assert_eq!(
        stmts[4],
        PolicyStatement {
            effect: Effect::Deny,
            actions: Patterns::NoneOf(vec!["dynamodb:GetItem".into()]),
            resources: Patterns::AnyOf(vec![table.into()]),
        }
    );
    assert!(t.function("Single").expect("single").policies.is_empty());
    let w = render(&t.warnings);
    assert!(
        w.iter()
            .any(|w| w.contains("Fn: Properties.Policies[5].Statement[1].Condition: Meridian does not evaluate policy conditions: this Allow grants nothing here")),
        "{w:#?}"
    );
    assert!(
        w.iter().any(|w| w.contains(
            "Single: Properties.Policies: managed policy DynamoDBCrudPolicy is not known to Meridian"
        )),
        "{w:#?}"
    );
}

#[test]
fn event_invoke_config_errors_have_exact_positions() {
    let text = r#"Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.12, Handler: index.handler, InlineCode: x}
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      EventInvokeConfig:
        MaximumEventAgeInSeconds: 30
        MaximumRetryAttempts: 3
        DestinationConfig:
          OnFailure:
            Type: Lamda
          OnSuccess:
            Type: Lambda
  Other:
    Type: AWS::Serverless::Function
    Properties:
      EventInvokeConfig:
        MaximumEventAgeInSeconds: 21601
        DestinationConfig:
          OnFailure: {Type: Lambda, Destination: "arn:aws:sqs:us-east-1:1:q"}
          OnSucess: {Type: Lambda}
"#;
    assert_eq!(
        errors("x/template.yaml", text),
        vec![
            "template.yaml:9:35: Worker: Properties.EventInvokeConfig.MaximumEventAgeInSeconds: 30 is out of range (60 to 21600)",
            "template.yaml:10:31: Worker: Properties.EventInvokeConfig.MaximumRetryAttempts: 3 is out of range (0 to 2)",
            "template.yaml:13:19: Worker: Properties.EventInvokeConfig.DestinationConfig.OnFailure.Type: unsupported destination type \"Lamda\" (did you mean \"Lambda\"?)",
            "template.yaml:14:11: Worker: Properties.EventInvokeConfig.DestinationConfig.OnSuccess: required field \"Destination\" is missing (the function that receives the records)",
            "template.yaml:20:35: Other: Properties.EventInvokeConfig.MaximumEventAgeInSeconds: 21601 is out of range (60 to 21600)",
            "template.yaml:22:50: Other: Properties.EventInvokeConfig.DestinationConfig.OnFailure.Destination: \"arn:aws:sqs:us-east-1:1:q\" is not the ARN of a Lambda function (arn:aws:lambda:us-east-1:<account>:function:<name>, or !GetAtt <Function>.Arn)",
            "template.yaml:23:11: Other: Properties.EventInvokeConfig.DestinationConfig.OnSucess: unknown field \"OnSucess\" (did you mean \"OnSuccess\"?)",
        ]
    );
}

#[test]
fn policy_mistakes_have_positions() {
    let text = r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      InlineCode: "x"
      Policies:
        - DynamoDBCrudPolcy: {TableName: t}
        - DynamoDBReadPolicy: {Table: t}
        - Statement:
            - Effect: Permit
              Action: "*"
              Resource: "*"
            - Effect: Allow
              Principal: "*"
              Action: "*"
              Resource: "*"
            - Effect: Allow
              Resource: "*"
"#;
    let got = errors("template.yaml", text);
    let want = vec![
        "template.yaml:10:11: Fn: Properties.Policies[0][DynamoDBCrudPolcy]: unknown policy template \"DynamoDBCrudPolcy\" (did you mean \"DynamoDBCrudPolicy\"?)",
        "template.yaml:11:11: Fn: Properties.Policies[1][DynamoDBReadPolicy]: DynamoDBReadPolicy needs the parameter TableName",
        "template.yaml:13:23: Fn: Properties.Policies[2].Statement[0].Effect: unsupported effect \"Permit\" (Allow or Deny)",
        "template.yaml:17:15: Fn: Properties.Policies[2].Statement[1].Principal: a function's policy is an identity policy, which has no Principal",
        "template.yaml:20:15: Fn: Properties.Policies[2].Statement[2]: a statement needs Action (or NotAction)",
        "template.yaml:11:32: warning: Fn: Properties.Policies[1][DynamoDBReadPolicy].Table: DynamoDBReadPolicy has no parameter Table; it is ignored",
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(&want) {
        assert!(g.starts_with(w), "\n got: {g}\nwant: {w}");
    }
}

#[test]
fn tables_carry_indexes_streams_ttl_and_tags() {
    let text = r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: Orders
      BillingMode: PROVISIONED
      ProvisionedThroughput: {ReadCapacityUnits: 5, WriteCapacityUnits: "2"}
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: N}
        - {AttributeName: email, AttributeType: S}
        - {AttributeName: created, AttributeType: N}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: byEmail
          KeySchema: [{AttributeName: email, KeyType: HASH}]
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [name]}
          ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}
      LocalSecondaryIndexes:
        - IndexName: byCreated
          KeySchema:
            - {AttributeName: pk, KeyType: HASH}
            - {AttributeName: created, KeyType: RANGE}
          Projection: {ProjectionType: KEYS_ONLY}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
      Tags: [{Key: team, Value: shop}]
      DeletionProtectionEnabled: "false"
      TableClass: STANDARD
"#;
    let t = load("template.yaml", text).expect("loads");
    let o = &t.tables[0];
    assert_eq!(o.throughput, Some(Throughput { read: 5, write: 2 }));
    assert_eq!(
        o.range_key.as_ref().map(|k| k.attribute_type.as_str()),
        Some("N")
    );
    assert_eq!(o.global_indexes[0].name, "byEmail");
    assert_eq!(
        o.global_indexes[0].projection,
        IndexProjection::Include(vec!["name".into()])
    );
    assert_eq!(
        o.local_indexes[0]
            .range_key
            .as_ref()
            .map(|k| k.name.as_str()),
        Some("created")
    );
    assert_eq!(o.stream_view_type.as_deref(), Some("NEW_AND_OLD_IMAGES"));
    assert_eq!(o.ttl_attribute.as_deref(), Some("expires"));
    assert_eq!(o.tags.get("team").map(String::as_str), Some("shop"));
    assert_eq!(o.key_attributes().len(), 4);
    assert_eq!(o.key_origin.span, crate::node::Span::new(15, 9));
}

#[test]
fn table_mistakes_are_refused_as_dynamodb_would() {
    let text = r#"Transform: AWS::Serverless-2016-10-31
Resources:
  A:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}
      AttributeDefinitions:
        - {AttributeName: id, AttributeType: S}
        - {AttributeName: extra, AttributeType: S}
      KeySchema:
        - {AttributeName: id, KeyType: RANGE}
  B:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: b
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      LocalSecondaryIndexes:
        - IndexName: lsi
          KeySchema: [{AttributeName: id, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
      StreamSpecification: {StreamViewType: NEW_IMAGES}
"#;
    let got = errors("template.yaml", text);
    let want = vec![
        "template.yaml:7:7: A: Properties.ProvisionedThroughput: ProvisionedThroughput cannot be set when BillingMode is PAY_PER_REQUEST",
        "template.yaml:10:27: A: Properties.AttributeDefinitions[1].AttributeName: attribute \"extra\" is defined but no key or index uses it",
        "template.yaml:12:40: A: Properties.KeySchema[0].KeyType: the first KeySchema element must be the HASH key",
        "template.yaml:15:5: B: Properties: a PROVISIONED table needs ProvisionedThroughput",
        "template.yaml:16:18: B: Properties.TableName: \"b\" is not a valid table name",
        "template.yaml:19:7: B: Properties.LocalSecondaryIndexes: local secondary indexes need a table with a RANGE key",
        "template.yaml:21:22: B: Properties.LocalSecondaryIndexes[0].KeySchema: a local secondary index needs a RANGE key",
        "template.yaml:23:45: B: Properties.StreamSpecification.StreamViewType: unsupported stream view type \"NEW_IMAGES\" (did you mean \"NEW_IMAGE\"?)",
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(&want) {
        assert!(g.starts_with(w), "\n got: {g}\nwant: {w}");
    }
}

#[test]
fn an_import_source_loads_a_new_table_and_its_mistakes_have_positions() {
    let text = r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Data:
    Type: AWS::S3::Bucket
    Properties: {BucketName: seed-data}
  Users:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: Users
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      ImportSourceSpecification:
        S3BucketSource: {S3Bucket: !Ref Data, S3KeyPrefix: users/}
        InputFormat: CSV
        InputCompressionType: GZIP
        InputFormatOptions: {Csv: {Delimiter: ";", HeaderList: [id, name]}}
"#;
    let t = load("template.yaml", text).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(
        t.tables[0].import,
        Some(ImportSpec {
            bucket: "seed-data".into(),
            bucket_owner: None,
            key_prefix: Some("users/".into()),
            input_format: "CSV".into(),
            compression: "GZIP".into(),
            csv_delimiter: Some(";".into()),
            csv_header_list: Some(vec!["id".into(), "name".into()]),
        })
    );
    assert!(
        render(&t.warnings).is_empty(),
        "an import source is served, not warned about: {:?}",
        render(&t.warnings)
    );

    let bad = r#"Transform: AWS::Serverless-2016-10-31
Resources:
  A:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      ImportSourceSpecification:
        S3BucketSource: {S3KeyPrefix: x}
        InputFormat: DYNAMO_JSON
  B:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      ImportSourceSpecification:
        S3BucketSource: {S3Bucket: b}
        InputFormat: DYNAMODB_JSON
        InputCompressionType: BZIP2
        InputFormatOptions: {Csv: {Delimiter: "/"}}
"#;
    let got = errors("template.yaml", bad);
    let want = vec![
        "template.yaml:10:9: A: Properties.ImportSourceSpecification.S3BucketSource: required field \"S3Bucket\" is missing",
        "template.yaml:11:22: A: Properties.ImportSourceSpecification.InputFormat: unsupported input format \"DYNAMO_JSON\" (DYNAMODB_JSON, CSV or ION) (did you mean \"DYNAMODB_JSON\"?)",
        "template.yaml:21:31: B: Properties.ImportSourceSpecification.InputCompressionType: unsupported compression \"BZIP2\"",
        "template.yaml:22:9: B: Properties.ImportSourceSpecification.InputFormatOptions: CSV options apply to InputFormat CSV, not DYNAMODB_JSON",
        "template.yaml:22:47: B: Properties.ImportSourceSpecification.InputFormatOptions.Csv.Delimiter: \"/\" is not a delimiter DynamoDB reads",
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(&want) {
        assert!(g.starts_with(w), "\n got: {g}\nwant: {w}");
    }
}

#[test]
fn dynamodb_events_map_a_stream_to_the_function() {
    let text = r#"Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.12, Handler: index.handler, InlineCode: x}
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: Orders
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Reactor:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Orders.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
            MaximumRetryAttempts: 2
            FilterCriteria: {Filters: [{Pattern: "{}"}]}
"#;
    let t = load("x/template.yaml", text).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(
        t.function("Reactor").expect("fn").stream_events,
        vec![StreamEvent {
            event: "Changes".into(),
            stream_arn: format!(
                "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/{DECLARED_STREAM_LABEL}"
            ),
            table: "Orders".into(),
            from_oldest: true,
            batch_size: 10,
            maximum_retry_attempts: Some(2),
            enabled: true,
        }]
    );
    assert_eq!(
        render(&t.warnings),
        vec![
            "template.yaml:24:13: warning: Reactor: Properties.Events[Changes].Properties.FilterCriteria: FilterCriteria is accepted but not applied by Meridian (batches are read in order, one at a time, and retried whole)"
        ]
    );
}

#[test]
fn dynamodb_event_mistakes_have_positions() {
    let text = r#"Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.12, Handler: index.handler, InlineCode: x}
Resources:
  Reactor:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        A:
          Type: DynamoDB
          Properties:
            Stream: arn:aws:dynamodb:us-east-1:123456789012:table/Orders
            StartingPosition: LATEST
        B:
          Type: DynamoDB
          Properties:
            Stream: arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/x
            StartingPosition: TRIM_HORIZN
        C:
          Type: DynamoDB
          Properties:
            Stream: arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/x
            StartingPosition: LATEST
            BatchSize: 0
        D:
          Type: DynamoDB
          Properties:
            StartingPosition: LATEST
"#;
    assert_eq!(
        errors("x/template.yaml", text),
        vec![
            "template.yaml:12:21: Reactor: Properties.Events[A].Properties.Stream: \"arn:aws:dynamodb:us-east-1:123456789012:table/Orders\" is not the ARN of a DynamoDB stream (arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>, or !GetAtt <Table>.StreamArn)",
            "template.yaml:18:31: Reactor: Properties.Events[B].Properties.StartingPosition: unsupported starting position \"TRIM_HORIZN\" for a DynamoDB stream (TRIM_HORIZON or LATEST) (did you mean \"TRIM_HORIZON\"?)",
            "template.yaml:24:24: Reactor: Properties.Events[C].Properties.BatchSize: 0 is out of range (1 to 10000)",
            "template.yaml:28:13: Reactor: Properties.Events[D].Properties: required field \"Stream\" is missing (the table's stream: !GetAtt <Table>.StreamArn)",
        ]
    );
}

#[test]
fn buckets_are_decoded_with_their_names_and_attributes() {
    let text = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Site:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Sub \"site-${AWS::Region}\"\n      VersioningConfiguration: {Status: Enabled}\n  Logs_Bucket:\n    Type: AWS::S3::Bucket\nOutputs:\n  Arn: {Value: !GetAtt Site.Arn}\n  Name: {Value: !Ref Logs_Bucket}\n  Domain: {Value: !GetAtt Site.RegionalDomainName}\n";
    let t = load("x/template.yaml", text).expect("loads");
    let names: Vec<&str> = t.buckets.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["site-us-east-1", "meridian-logsbucket"]);
    let outputs: Vec<&str> = t.outputs.iter().map(|o| o.value.as_str()).collect();
    assert_eq!(
        outputs,
        [
            "arn:aws:s3:::site-us-east-1",
            "meridian-logsbucket",
            "site-us-east-1.s3.us-east-1.amazonaws.com"
        ]
    );
}

#[test]
fn a_bucket_name_s3_refuses_is_an_error_at_its_position() {
    let e = errors(
        "x/template.yaml",
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: My_Bucket\n      Versioning: {Status: Enabled}\n",
    );
    assert_eq!(
        e,
        [
            "template.yaml:6:19: B: Properties.BucketName: \"My_Bucket\" is not a valid bucket name (3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit)",
            "template.yaml:7:7: B: Properties.Versioning: unknown field \"Versioning\"",
        ]
    );
}

#[test]
fn s3_events_become_their_buckets_notifications() {
    let text = r#"Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.12, Handler: index.handler, InlineCode: x}
Resources:
  Thumbs:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: make-thumbs
      Events:
        Upload:
          Type: S3
          Properties:
            Bucket: !Ref Photos
            Events: s3:ObjectCreated:*
            Filter:
              S3Key:
                Rules:
                  - {Name: prefix, Value: incoming/}
                  - {Name: Suffix, Value: .jpg}
        Gone:
          Type: S3
          Properties:
            Bucket: !Ref Photos
            Events: [s3:ObjectRemoved:Delete, s3:ObjectRemoved:DeleteMarkerCreated]
  Photos:
    Type: AWS::S3::Bucket
"#;
    let t = load("x/template.yaml", text).unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(t.warnings.is_empty(), "{:#?}", render(&t.warnings));
    let b = &t.buckets[0];
    let got: Vec<(&str, &str, Vec<&str>, &KeyFilter)> = b
        .notifications
        .iter()
        .map(|n| {
            (
                n.id.as_str(),
                n.function.as_str(),
                n.events.iter().map(String::as_str).collect(),
                &n.filter,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "ThumbsGone",
                "make-thumbs",
                vec![
                    "s3:ObjectRemoved:Delete",
                    "s3:ObjectRemoved:DeleteMarkerCreated"
                ],
                &KeyFilter::default()
            ),
            (
                "ThumbsUpload",
                "make-thumbs",
                vec!["s3:ObjectCreated:*"],
                &KeyFilter {
                    prefix: Some("incoming/".into()),
                    suffix: Some(".jpg".into())
                }
            ),
        ]
    );
    assert_eq!(b.notifications[1].origin.span.line, 14);
}

#[test]
fn s3_event_types_meridian_never_raises_are_reported() {
    let text = r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Watch:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.12, Handler: index.handler, InlineCode: x,
      Events: {Restored: {Type: S3, Properties: {Bucket: !Ref Photos,
        Events: [s3:ObjectRestore:Completed, s3:LifecycleExpiration:*]}}}}
  Photos:
    Type: AWS::S3::Bucket
"#;
    let t = load("x/template.yaml", text).unwrap_or_else(|e| panic!("{e:#?}"));
    let warnings = render(&t.warnings);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("s3:ObjectRestore:Completed is accepted but never raised"),
        "{warnings:#?}"
    );
    assert_eq!(
        t.buckets[0].notifications[0].events,
        ["s3:ObjectRestore:Completed", "s3:LifecycleExpiration:*"]
    );
}

#[test]
fn s3_event_mistakes_have_positions() {
    let text = r#"Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.12, Handler: index.handler, InlineCode: x}
Resources:
  Photos:
    Type: AWS::S3::Bucket
  Reactor:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        A:
          Type: S3
          Properties:
            Bucket: reactor-photos
            Events: s3:ObjectCreated:*
        B:
          Type: S3
          Properties:
            Bucket: !Ref Photos
            Events: s3:ObjectCreated:Puts
        C:
          Type: S3
          Properties:
            Bucket: !Ref Photos
            Events: s3:ObjectRemoved:*
            Filter: {S3Key: {Rules: [{Name: middle, Value: x}]}}
        D:
          Type: S3
          Properties:
            Events: s3:ObjectRemoved:*
        E:
          Type: S3
          Properties:
            Bucket: !Ref Photos
            Events: [s3:ObjectCreated:Put]
        F:
          Type: S3
          Properties:
            Bucket: !Ref Photos
            Events: [s3:ObjectCreated:*]
"#;
    assert_eq!(
        errors("x/template.yaml", text),
        vec![
            "template.yaml:14:21: Reactor: Properties.Events[A].Properties.Bucket: \"reactor-photos\" is not a !Ref to an AWS::S3::Bucket of this template (S3 events must reference a bucket declared in the same template: Bucket: !Ref <BucketLogicalId>)",
            "template.yaml:20:21: Reactor: Properties.Events[B].Properties.Events: \"s3:ObjectCreated:Puts\" is not an S3 event type (did you mean \"s3:ObjectCreated:Put\"?)",
            "template.yaml:26:45: Reactor: Properties.Events[C].Properties.Filter.S3Key.Rules[0].Name: filter rule name \"middle\" must be either prefix or suffix",
            "template.yaml:30:13: Reactor: Properties.Events[D].Properties: required field \"Bucket\" is missing (!Ref to an AWS::S3::Bucket of this template)",
            "template.yaml:40:21: Reactor: Properties.Events[F].Properties.Events: these events overlap those of ReactorE on bucket Photos: S3 refuses two configurations of a bucket that share an event type for the same keys (give them Filter rules (prefix or suffix) that no key matches both)",
        ]
    );
}

#[test]
fn resources_the_transform_generates_can_be_referenced() {
    // The shapes of `sam init`'s hello, response-streaming and SQS templates: outputs and
    // variables naming the role, URL, permissions, stages, alias and mappings SAM adds.
    let text = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: zip/src
      Handler: app.handler
      Runtime: python3.12
      AutoPublishAlias: live
      FunctionUrlConfig:
        AuthType: NONE
      Environment:
        Variables:
          ROLE: !GetAtt HelloRole.Arn
          ROLE_NAME: !Ref HelloRole
          URL: !GetAtt HelloUrl.FunctionUrl
          ALIAS: !Ref Hello.Alias
          VERSION: !Ref Hello.Version
          STAGE: !Ref ServerlessRestApiProdStage
          HTTP_STAGE: !Ref ServerlessHttpApiApiGatewayDefaultStage
          PERMISSION: !Ref HelloGetPermissionProd
          MAPPING: !Ref HelloQueueEvent
          RULE: !GetAtt HelloTickEvent.Arn
      Events:
        Get:
          Type: Api
          Properties: {Path: /hello, Method: get}
        Any:
          Type: HttpApi
        QueueEvent:
          Type: SQS
          Properties: {Queue: arn:aws:sqs:us-east-1:123456789012:q}
        TickEvent:
          Type: Schedule
          Properties: {Schedule: rate(1 minute)}
Outputs:
  Role:
    Value: !GetAtt HelloRole.Arn
"#;
    let t = load("template.yaml", text).expect("loads");
    let f = t.function("Hello").expect("function");
    let env = |k: &str| f.environment.get(k).cloned().unwrap_or_default();
    let role = env("ROLE_NAME");
    let suffix = role
        .strip_prefix(&format!("{}-HelloRole-", t.stack_name))
        .unwrap_or_else(|| panic!("{role}"));
    assert!(
        suffix.len() == 10
            && suffix
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
        "{role}"
    );
    assert_eq!(
        env("ROLE"),
        format!("arn:aws:iam::123456789012:role/{role}")
    );
    let url = env("URL");
    let host = url
        .strip_prefix("https://")
        .and_then(|u| u.strip_suffix(".lambda-url.us-east-1.on.aws/"))
        .unwrap_or_else(|| panic!("{url}"));
    assert!(
        host.len() == 32
            && host
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{host}"
    );
    assert_eq!(
        env("ALIAS"),
        "arn:aws:lambda:us-east-1:123456789012:function:Hello:live"
    );
    assert_eq!(
        env("VERSION"),
        "arn:aws:lambda:us-east-1:123456789012:function:Hello:1"
    );
    assert_eq!(env("STAGE"), "Prod");
    assert_eq!(env("HTTP_STAGE"), "$default");
    assert!(!env("PERMISSION").is_empty());
    let mapping = env("MAPPING");
    assert_eq!(
        mapping.split('-').map(str::len).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12],
        "{mapping}"
    );
    assert!(
        env("RULE").starts_with("arn:aws:events:us-east-1:123456789012:rule/"),
        "{}",
        env("RULE")
    );
    // The URL is served: its id is the one the attribute names.
    let served = f.url.as_ref().expect("a function URL");
    assert_eq!(
        format!("{}.lambda-url.us-east-1.on.aws/", served.id),
        url["https://".len()..]
    );
    assert!(!served.iam && !served.streaming);

    // Attributes those resources do not have are refused with what they have.
    let bad = text.replace(
        "ROLE: !GetAtt HelloRole.Arn",
        "ROLE: !GetAtt HelloRole.Name",
    );
    let e = errors("template.yaml", &bad);
    assert!(
        e.iter().any(|e| e
            .contains("!GetAtt HelloRole.Name: AWS::IAM::Role has no attribute \"Name\"")
            && e.contains("supported: Arn, RoleId")),
        "{e:#?}"
    );
    // A function given its own role has no generated one.
    let own = text.replace(
        "      AutoPublishAlias: live\n",
        "      AutoPublishAlias: live\n      Role: arn:aws:iam::123456789012:role/mine\n",
    );
    let e = errors("template.yaml", &own);
    assert!(
        e.iter()
            .any(|e| e.contains("!GetAtt HelloRole: no parameter, resource or pseudo parameter")),
        "{e:#?}"
    );
}

#[test]
fn function_url_config_is_checked_as_lambda_checks_it() {
    let template = |config: &str| {
        format!(
            "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      InlineCode: \"def h(e, c): return 1\"\n      Handler: index.h\n      Runtime: python3.12\n      FunctionUrlConfig:\n{config}"
        )
    };
    let e = errors("template.yaml", &template("        InvokeMode: BUFFERED\n"));
    assert!(
        e.iter().any(|e| e.starts_with("template.yaml:9:7: ")
            && e.contains("required field \"AuthType\" is missing")),
        "{e:#?}"
    );
    let e = errors("template.yaml", &template("        AuthType: AWS_IAMM\n"));
    assert!(
        e.iter().any(|e| e.starts_with("template.yaml:10:19: ")
            && e.contains("unsupported value \"AWS_IAMM\"")
            && e.contains("did you mean \"AWS_IAM\"?")),
        "{e:#?}"
    );
    let e = errors(
        "template.yaml",
        &template("        AuthType: NONE\n        Cors:\n          MaxAge: 90000\n"),
    );
    assert!(e.iter().any(|e| e.contains("MaxAge")), "{e:#?}");
    let t = load(
        "template.yaml",
        &template(
            "        AuthType: AWS_IAM\n        InvokeMode: RESPONSE_STREAM\n        Cors:\n          AllowOrigins: [\"https://app.example\"]\n          MaxAge: 300\n",
        ),
    )
    .expect("loads");
    let url = t.function("Fn").and_then(|f| f.url.clone()).expect("url");
    assert!(url.iam && url.streaming);
    let cors = url.cors.expect("cors");
    assert_eq!(
        (cors.allow_origins, cors.max_age),
        (vec!["https://app.example".to_owned()], Some(300))
    );
    assert!(
        render(&t.warnings)
            .iter()
            .any(|w| w.contains("RESPONSE_STREAM is served buffered")),
        "{:#?}",
        t.warnings
    );
}

/// REST and HTTP APIs written as raw CloudFormation, in the shapes serverless-patterns uses.
const RAW_APIS: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Items:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def h(e, c): return {'statusCode': 200, 'body': e.get('path') or e.get('rawPath')}"
      Handler: index.h
      Runtime: python3.12
  Rest:
    Type: AWS::ApiGateway::RestApi
    Properties:
      Name: items
  ItemsResource:
    Type: AWS::ApiGateway::Resource
    Properties:
      RestApiId: !Ref Rest
      ParentId: !GetAtt Rest.RootResourceId
      PathPart: items
  ItemResource:
    Type: AWS::ApiGateway::Resource
    Properties:
      RestApiId: !Ref Rest
      ParentId: !Ref ItemsResource
      PathPart: "{id}"
  GetItem:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Rest
      ResourceId: !Ref ItemResource
      HttpMethod: GET
      AuthorizationType: NONE
      Integration:
        Type: AWS_PROXY
        IntegrationHttpMethod: POST
        Uri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Items.Arn}/invocations
  MockRoot:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Rest
      ResourceId: !GetAtt Rest.RootResourceId
      HttpMethod: GET
      AuthorizationType: NONE
      Integration:
        Type: MOCK
  Deployment:
    Type: AWS::ApiGateway::Deployment
    DependsOn: GetItem
    Properties:
      RestApiId: !Ref Rest
  Stage:
    Type: AWS::ApiGateway::Stage
    Properties:
      RestApiId: !Ref Rest
      DeploymentId: !Ref Deployment
      StageName: dev
      MethodSettings:
        - HttpMethod: "*"
          ResourcePath: "/*"
          CachingEnabled: true
  Quick:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: quick
      ProtocolType: HTTP
      Target: !GetAtt Items.Arn
  Http:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: http
      ProtocolType: HTTP
  HttpIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Http
      IntegrationType: AWS_PROXY
      IntegrationUri: !GetAtt Items.Arn
      PayloadFormatVersion: "2.0"
  HttpRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Http
      RouteKey: POST /orders
      Target: !Sub integrations/${HttpIntegration}
  HttpStage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref Http
      StageName: $default
      AutoDeploy: true
"#;

#[test]
fn raw_api_gateway_resources_become_routes() {
    let t = load("template.yaml", RAW_APIS).expect("loads");
    let f = t.function("Items").expect("function");
    let mut routes: Vec<(String, String, String)> = f
        .routes
        .iter()
        .map(|r| (r.api.clone(), r.method.to_string(), r.route_key()))
        .collect();
    routes.sort();
    assert_eq!(
        routes,
        [
            ("Http".into(), "POST".into(), "POST /orders".into()),
            ("Quick".into(), "ANY".into(), "$default".into()),
            ("Rest".into(), "GET".into(), "GET /items/{id}".into()),
        ]
    );
    let rest = t
        .apis
        .iter()
        .find(|a| a.logical_id == "Rest")
        .expect("rest api");
    assert_eq!((rest.kind, rest.stage.as_str()), (ApiKind::Rest, "dev"));
    let http = t
        .apis
        .iter()
        .find(|a| a.logical_id == "Http")
        .expect("http api");
    assert_eq!(http.kind, ApiKind::Http);
    // The MOCK integration is said, at its line, not served.
    let w = render(&t.warnings);
    assert!(
        w.iter().any(|w| w.contains(
            "MockRoot: Properties.Integration.Type: \"MOCK\" integrations are not served"
        )),
        "{w:#?}"
    );
    assert!(
        !w.iter().any(|w| w.contains("is accepted but not run")
            && (w.contains("AWS::ApiGateway::") || w.contains("AWS::ApiGatewayV2::"))),
        "{w:#?}"
    );
    // What a stage sets that is not run here is said at its field.
    assert!(
        w.iter().any(|w| w.contains(
            "Stage: Properties.MethodSettings: MethodSettings (caching, throttling, logging) is not applied"
        )),
        "{w:#?}"
    );
}

#[test]
fn api_cors_is_read_as_sam_writes_it() {
    let text = r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Api:
    Cors:
      AllowOrigin: "'https://app.example'"
      AllowMethods: "'GET,POST'"
      AllowHeaders: "'Content-Type,X-Api-Key'"
      MaxAge: "'300'"
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def h(e, c): return 1"
      Handler: index.h
      Runtime: python3.12
      Events:
        Rest:
          Type: Api
          Properties: {Path: /r, Method: get}
        Http:
          Type: HttpApi
          Properties: {Path: /h, Method: get, ApiId: !Ref Http}
  Http:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration: true
"#;
    let t = load("template.yaml", text).expect("loads");
    let rest = t
        .apis
        .iter()
        .find(|a| a.kind == ApiKind::Rest)
        .and_then(|a| a.cors.clone())
        .expect("rest cors");
    assert_eq!(rest.allow_origins, ["https://app.example"]);
    assert_eq!(rest.allow_methods, ["GET", "POST"]);
    assert_eq!(rest.allow_headers, ["Content-Type", "X-Api-Key"]);
    assert_eq!(rest.max_age, Some(300));
    let http = t
        .apis
        .iter()
        .find(|a| a.logical_id == "Http")
        .and_then(|a| a.cors.clone())
        .expect("http cors");
    assert_eq!(http.allow_origins, ["*"]);
}

#[test]
fn a_function_takes_one_architecture() {
    let text = |archs: &str| {
        format!(
            "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      InlineCode: \"def h(e, c): return 1\"\n      Handler: index.h\n      Runtime: python3.12\n      Architectures: {archs}\n"
        )
    };
    let e = errors("template.yaml", &text("[x86_64, arm64]"));
    assert!(
        e.iter().any(|e| e.starts_with("template.yaml:9:22: ")
            && e.contains("Architectures takes exactly one value, not 2")),
        "{e:#?}"
    );
    assert!(load("template.yaml", &text("[arm64]")).is_ok());
}

#[test]
fn build_properties_the_build_does_not_apply_are_said() {
    let text = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: app.handler
      Runtime: nodejs20.x
    Metadata:
      BuildMethod: esbuild
      BuildProperties:
        Minify: false
        EntryPoints: [app.ts]
        Banner: "/* built */"
"#;
    let t = load("template.yaml", text).expect("loads");
    let f = t.function("Fn").expect("function");
    assert!(matches!(
        &f.build,
        Some(Build::Esbuild { minify: false, entry_points, .. }) if entry_points == &["app.ts"]
    ));
    let w = render(&t.warnings);
    assert!(
        w.iter()
            .any(|w| w.contains("Metadata.BuildProperties.Banner: Banner is not applied")),
        "{w:#?}"
    );
}
