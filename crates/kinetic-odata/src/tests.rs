//! Unit tests of the parser, printer and query options.

use crate::*;

fn parse(s: &str) -> Expr {
    parse_filter(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// Parses, prints, parses again and checks both trees are equal; answers the printed text.
fn round_trip(s: &str) -> String {
    let e = parse(s);
    let printed = print_expr(&e);
    assert_eq!(
        parse_filter(&printed),
        Ok(e),
        "{s:?} printed as {printed:?}"
    );
    printed
}

fn err(s: &str) -> String {
    match parse_filter(s) {
        Ok(e) => panic!("{s:?} should fail, parsed as {e:?}"),
        Err(e) => e.to_string(),
    }
}

fn member(path: &str) -> Expr {
    Expr::property(path)
}

fn lit(l: Literal) -> Expr {
    Expr::Literal(l)
}

fn int(i: i64) -> Expr {
    lit(Literal::Int(i))
}

fn string(s: &str) -> Expr {
    lit(Literal::String(s.to_string()))
}

#[test]
fn every_comparison_operator() {
    for (kw, op) in [
        ("eq", BinaryOp::Eq),
        ("ne", BinaryOp::Ne),
        ("gt", BinaryOp::Gt),
        ("ge", BinaryOp::Ge),
        ("lt", BinaryOp::Lt),
        ("le", BinaryOp::Le),
        ("has", BinaryOp::Has),
        ("add", BinaryOp::Add),
        ("sub", BinaryOp::Sub),
        ("mul", BinaryOp::Mul),
        ("div", BinaryOp::Div),
        ("divby", BinaryOp::DivBy),
        ("mod", BinaryOp::Mod),
        ("and", BinaryOp::And),
        ("or", BinaryOp::Or),
    ] {
        let text = format!("A {kw} 1");
        assert_eq!(
            parse(&text),
            Expr::binary(op, member("A"), int(1)),
            "{text}"
        );
        assert_eq!(round_trip(&text), text);
        let upper = format!("A {} 1", kw.to_uppercase());
        assert_eq!(parse(&upper), parse(&text));
    }
}

#[test]
fn case_insensitive_operators_from_the_spec() {
    let e = parse("Name EQ 'Milk' AND Price LT 2.55");
    let expected = member("Name").eq(string("Milk")).and(Expr::binary(
        BinaryOp::Lt,
        member("Price"),
        lit(Literal::Decimal("2.55".into())),
    ));
    assert_eq!(e, expected);
}

#[test]
fn precedence() {
    // or < and < eq < gt < add < mul < unary
    assert_eq!(
        parse("a or b and c"),
        member("a").or(member("b").and(member("c")))
    );
    assert_eq!(
        parse("a eq 1 and b eq 2 or c eq 3"),
        member("a")
            .eq(int(1))
            .and(member("b").eq(int(2)))
            .or(member("c").eq(int(3)))
    );
    assert_eq!(
        parse("a add b mul c"),
        Expr::binary(
            BinaryOp::Add,
            member("a"),
            Expr::binary(BinaryOp::Mul, member("b"), member("c"))
        )
    );
    assert_eq!(
        parse("a sub b sub c"),
        Expr::binary(
            BinaryOp::Sub,
            Expr::binary(BinaryOp::Sub, member("a"), member("b")),
            member("c")
        )
    );
    assert_eq!(
        parse("a gt b eq true"),
        Expr::binary(
            BinaryOp::Eq,
            Expr::binary(BinaryOp::Gt, member("a"), member("b")),
            lit(Literal::Boolean(true))
        )
    );
    // Unary binds tighter than everything binary (the OData precedence table).
    assert_eq!(parse("not a eq b"), member("a").not().eq(member("b")));
    assert_eq!(
        parse("-a mul b"),
        Expr::binary(
            BinaryOp::Mul,
            Expr::Unary {
                op: UnaryOp::Negate,
                operand: Box::new(member("a"))
            },
            member("b")
        )
    );
    // Minimal parentheses in print, kept where they matter.
    assert_eq!(round_trip("(a or b) and c"), "(a or b) and c");
    assert_eq!(round_trip("a or (b and c)"), "a or b and c");
    assert_eq!(round_trip("a sub (b sub c)"), "a sub (b sub c)");
    assert_eq!(round_trip("(a sub b) sub c"), "a sub b sub c");
    assert_eq!(
        round_trip("(4 add 5) mod (4 sub 1)"),
        "(4 add 5) mod (4 sub 1)"
    );
    assert_eq!(round_trip("not (a eq b)"), "not (a eq b)");
    assert_eq!(
        round_trip("not(contains(Name,'x'))"),
        "not contains(Name,'x')"
    );
    assert_eq!(round_trip("-(5)"), "-(5)");
    assert_eq!(round_trip("- 5"), "-(5)");
    assert_eq!(round_trip("--5"), "-(-5)");
    assert_eq!(round_trip("-(a add b)"), "-(a add b)");
    assert_eq!(round_trip("( true )"), "true");
}

#[test]
fn literals() {
    let cases: Vec<(&str, Literal)> = vec![
        ("'O''Neil'", Literal::String("O'Neil".into())),
        ("''", Literal::String(String::new())),
        ("42", Literal::Int(42)),
        ("-42", Literal::Int(-42)),
        ("+42", Literal::Int(42)),
        ("-9223372036854775808", Literal::Int(i64::MIN)),
        (
            "99999999999999999999",
            Literal::Decimal("99999999999999999999".into()),
        ),
        ("3.14", Literal::Decimal("3.14".into())),
        ("-2.50", Literal::Decimal("-2.50".into())),
        ("1e-101", Literal::Double(1e-101)),
        ("-0.25E1", Literal::Double(-2.5)),
        ("INF", Literal::Double(f64::INFINITY)),
        ("-INF", Literal::Double(f64::NEG_INFINITY)),
        ("NaN", Literal::Double(f64::NAN)),
        ("true", Literal::Boolean(true)),
        ("tRUe", Literal::Boolean(true)),
        ("FALSE", Literal::Boolean(false)),
        ("null", Literal::Null),
        ("NULL", Literal::Null),
        ("2025-01-31", Literal::Date("2025-01-31".into())),
        ("-10000-04-01", Literal::Date("-10000-04-01".into())),
        (
            "2025-01-31T10:20:30.123+02:00",
            Literal::DateTimeOffset("2025-01-31T10:20:30.123+02:00".into()),
        ),
        (
            "2012-09-03T13:52Z",
            Literal::DateTimeOffset("2012-09-03T13:52Z".into()),
        ),
        ("13:20:00", Literal::TimeOfDay("13:20:00".into())),
        ("11:22", Literal::TimeOfDay("11:22".into())),
        (
            "01234567-89ab-cdef-0123-456789abcdef",
            Literal::Guid("01234567-89ab-cdef-0123-456789abcdef".into()),
        ),
        (
            "ABCDEF01-89ab-cdef-0123-456789abcdef",
            Literal::Guid("ABCDEF01-89ab-cdef-0123-456789abcdef".into()),
        ),
        ("duration'P1D'", Literal::Duration("P1D".into())),
        (
            "duration'-P6DT23H59M59.9999S'",
            Literal::Duration("-P6DT23H59M59.9999S".into()),
        ),
        ("binary'Zm9vYg=='", Literal::Binary(b"foob".to_vec())),
        ("binary'Zm9vYg'", Literal::Binary(b"foob".to_vec())),
        ("binary''", Literal::Binary(Vec::new())),
        (
            "Sales.Pattern'Yellow'",
            Literal::Enum {
                type_name: "Sales.Pattern".into(),
                value: "Yellow".into(),
            },
        ),
        (
            "Sales.Pattern'Solid,Yellow'",
            Literal::Enum {
                type_name: "Sales.Pattern".into(),
                value: "Solid,Yellow".into(),
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(parse(text), lit(expected.clone()), "{text}");
        assert_eq!(parse_literal(text), Ok(expected), "{text}");
        round_trip(text);
        round_trip(&format!("X eq {text}"));
    }
    assert_eq!(round_trip("X eq 'it''s'"), "X eq 'it''s'");
    assert_eq!(round_trip("X eq 3.14e0"), "X eq 3.14e0");
    assert_eq!(round_trip("X eq 1E5"), "X eq 1e5");
    assert!(parse_literal("Name").is_err());
}

#[test]
fn literal_errors() {
    assert_eq!(err("Name eq 'abc"), "unterminated string literal at 8");
    assert_eq!(
        err("OrderDate gt 2025-13-01"),
        "invalid date '2025-13-01' at 13"
    );
    assert_eq!(
        err("OrderDate gt 2023-02-29"),
        "invalid date '2023-02-29' at 13"
    );
    assert!(err("T eq 2011-12-31T24:00Z").starts_with("invalid date-time"));
    assert!(err("T eq 24:00:00").starts_with("invalid time of day"));
    assert!(err("D eq duration'P1Y'").starts_with("invalid duration"));
    assert!(err("D eq duration'+P1D'").starts_with("invalid duration"));
    assert!(err("B eq binary'Z'").starts_with("invalid base64"));
    assert!(err("B eq X'1a2B'").starts_with("unknown literal prefix 'X'"));
    assert_eq!(err("P eq 42."), "invalid number: expected a digit at 8");
    assert_eq!(err("P eq 5x"), "invalid number at 6");
    assert!(err("P eq .1").starts_with("expected an expression"));
    assert!(err("G eq geography'SRID=0;Point(1 2)'").contains("not supported"));
    assert!(err("E eq Sales.Pattern'a,,b'").starts_with("invalid enum value"));
}

#[test]
fn error_positions_and_messages() {
    assert_eq!(err("Name eqq 'Milk'"), "unknown operator 'eqq' at 5");
    assert_eq!(err("(Name eq 'Milk'"), "expected ')' at 15");
    assert_eq!(err("contains(Name,'x'"), "expected ')' at 17");
    assert_eq!(err(""), "expected an expression, found end of input at 0");
    assert_eq!(err(" true"), "expected an expression, found ' ' at 0");
    assert_eq!(err("true "), "unexpected ' ' at 4");
    assert_eq!(err("Name eq"), "expected whitespace after 'eq' at 7");
    assert_eq!(
        err("Name eq "),
        "expected an expression, found end of input at 8"
    );
    assert_eq!(err("(a)eq b"), "expected whitespace before 'eq' at 3");
    assert_eq!(err("a eq 1)"), "unexpected ')' at 6");
    assert_eq!(
        err("contains(a)"),
        "'contains' takes 2 arguments, found 1 at 0"
    );
    assert_eq!(
        err("substring(a,1,2,3)"),
        "'substring' takes 2 or 3 arguments, found 4 at 0"
    );
    assert_eq!(err("now(1)"), "'now' takes 0 arguments, found 1 at 0");
    assert!(err("any()").contains("needs a collection before it"));
    assert!(err("Items/all()").starts_with("all() requires a lambda"));
    assert!(err("Items/any(true: true)").contains("cannot be a lambda variable"));
    assert!(err("Model.Available").ends_with("at 15"));
    assert!(err("FirstName in (FirstName,LastName)").ends_with("at 23"));
    assert_eq!(err("EmailAddresses eq ('a','b')"), "expected ')' at 22");
    assert!(err("\"x\" eq Name").starts_with("double-quoted strings"));
    assert!(err("$root/Customers").contains("not supported"));
    assert!(err("Items/$count/x").contains("only a path"));
    assert!(err("not").starts_with("expected an expression after 'not'"));
    assert!(err("'a'/b").contains("only a path"));
}

#[test]
fn in_operator() {
    assert_eq!(
        parse("Name in ('Milk', 'Cheese')"),
        Expr::In {
            operand: Box::new(member("Name")),
            list: vec![string("Milk"), string("Cheese")]
        }
    );
    assert_eq!(
        parse("Name in ('Milk','Cheese')"),
        parse("Name in [\"Milk\", \"Cheese\"]")
    );
    assert_eq!(
        parse("Name in ()"),
        Expr::In {
            operand: Box::new(member("Name")),
            list: vec![]
        }
    );
    assert_eq!(
        parse("FirstName in (LastName)"),
        Expr::binary(BinaryOp::In, member("FirstName"), member("LastName"))
    );
    assert_eq!(
        parse("'Red' in Colors"),
        Expr::binary(BinaryOp::In, string("Red"), member("Colors"))
    );
    assert_eq!(
        round_trip("Name in ('Milk', 'Cheese')"),
        "Name in ('Milk','Cheese')"
    );
    assert_eq!(
        round_trip("Name in ['Milk', Other]"),
        "Name in ['Milk',Other]"
    );
    assert_eq!(round_trip("Name in ('x')"), "Name in ('x')");
    assert_eq!(round_trip("x in ([1,2])"), "x in ([1,2])");
    assert_eq!(round_trip("x in 'a'"), "x in 'a'");
    assert_eq!(
        round_trip("FirstName in (LastName)"),
        "FirstName in (LastName)"
    );
    assert_eq!(round_trip("a in (1) eq true"), "a in (1) eq true");
    round_trip("[FirstName,LastName] in [[\"John\",\"Doe\"],[\"Jane\",\"Smith\"]]");
    assert!(matches!(
        parse("A eq 1 and B in (1,2)"),
        Expr::Binary {
            op: BinaryOp::And,
            ..
        }
    ));
}

#[test]
fn functions() {
    let one_arg = [
        "length",
        "tolower",
        "toupper",
        "trim",
        "year",
        "month",
        "day",
        "hour",
        "minute",
        "second",
        "fractionalseconds",
        "date",
        "time",
        "totaloffsetminutes",
        "totalseconds",
        "round",
        "floor",
        "ceiling",
    ];
    for name in one_arg {
        let text = format!("{name}(X)");
        let e = parse(&text);
        let Expr::Call { function, args } = &e else {
            panic!("{text}: {e:?}")
        };
        assert_eq!(function.name(), name);
        assert!(!matches!(function, Function::Other(_)), "{name}");
        assert_eq!(args, &vec![member("X")]);
        assert_eq!(round_trip(&text), text);
    }
    for name in [
        "contains",
        "startswith",
        "endswith",
        "indexof",
        "concat",
        "matchesPattern",
        "hassubset",
        "hassubsequence",
    ] {
        let text = format!("{name}(X,'y')");
        assert_eq!(round_trip(&text), text);
        assert!(!matches!(
            parse(&text),
            Expr::Call {
                function: Function::Other(_),
                ..
            }
        ));
    }
    for text in [
        "now()",
        "maxdatetime()",
        "mindatetime()",
        "substring(X,1)",
        "substring(X,1,2)",
    ] {
        assert_eq!(round_trip(text), text);
    }
    // Built-in names are case-insensitive and print canonically.
    assert_eq!(round_trip("CONTAINS(Name,'x')"), "contains(Name,'x')");
    assert_eq!(
        round_trip("MatchesPattern(Name,'^A')"),
        "matchesPattern(Name,'^A')"
    );
    assert_eq!(round_trip("maxdatetime( )"), "maxdatetime()");
    assert_eq!(
        parse("concat(concat(Street,'-'),City)"),
        Expr::Call {
            function: Function::Concat,
            args: vec![
                Expr::Call {
                    function: Function::Concat,
                    args: vec![member("Street"), string("-")]
                },
                member("City")
            ]
        }
    );
    // cast / isof keep the type as a TypeName.
    assert_eq!(
        parse("isof(Category,Model.Customer)"),
        Expr::Call {
            function: Function::IsOf,
            args: vec![member("Category"), Expr::TypeName("Model.Customer".into())]
        }
    );
    assert_eq!(
        parse("cast(Edm.String)"),
        Expr::Call {
            function: Function::Cast,
            args: vec![Expr::TypeName("Edm.String".into())]
        }
    );
    round_trip("cast(Price add 1, Edm.Int32) gt 5");
    // Other functions.
    assert_eq!(
        parse("geo.distance(A,B)"),
        Expr::Call {
            function: Function::Other("geo.distance".into()),
            args: vec![member("A"), member("B")]
        }
    );
    assert_eq!(
        parse("Model.PhoneticallySimilar(Word1=Name,Word2=Supplier/Name)"),
        Expr::FunctionCall {
            target: None,
            function: "Model.PhoneticallySimilar".into(),
            params: vec![
                ("Word1".into(), member("Name")),
                ("Word2".into(), member("Supplier/Name"))
            ]
        }
    );
    for text in [
        "Products/Model.BestProduct()/Address/Street",
        "Products/Model.ProductsByColor(color=@color)/Model.BestSellingProduct/Model.MostPopularName()",
        "Model.Available(complex={\"Name\":\"double quote (\\\") in value\"})",
        "Items/Model.MostPopularNames()/$count",
        "Items(1)/Name",
    ] {
        round_trip(text);
    }
    assert_eq!(
        parse("Products/Model.BestProduct()/Name"),
        Expr::Navigate {
            base: Box::new(Expr::FunctionCall {
                target: Some(Box::new(member("Products"))),
                function: "Model.BestProduct".into(),
                params: vec![]
            }),
            segments: vec!["Name".into()]
        }
    );
}

#[test]
fn paths_and_roots() {
    assert_eq!(parse("A/B/C"), member("A/B/C"));
    assert_eq!(
        parse("$it/Name"),
        Expr::Member(MemberPath {
            root: PathRoot::It,
            segments: vec!["Name".into()]
        })
    );
    assert_eq!(
        parse("$this"),
        Expr::Member(MemberPath {
            root: PathRoot::This,
            segments: vec![]
        })
    );
    assert_eq!(
        parse("Address/Model.AddressWithLocation/Street"),
        member("Address/Model.AddressWithLocation/Street")
    );
    assert_eq!(
        parse("Price/@Measures.Currency"),
        Expr::Member(MemberPath::property(["Price", "@Measures.Currency"]))
    );
    assert_eq!(
        parse("Price gt @p"),
        Expr::binary(BinaryOp::Gt, member("Price"), Expr::Alias("p".into()))
    );
    assert_eq!(
        parse("Products/$count gt 0"),
        Expr::binary(
            BinaryOp::Gt,
            Expr::Count {
                collection: Box::new(member("Products")),
                filter: None,
                search: None
            },
            int(0)
        )
    );
    assert_eq!(
        round_trip("Products/$count($filter=Price gt 5.00;$search=blue) gt 2"),
        "Products/$count($filter=Price gt 5.00;$search=blue) gt 2"
    );
    // A lambda variable is in scope only inside its lambda.
    assert_eq!(parse("lambda/Completed"), member("lambda/Completed"));
    round_trip("lambda/Name eq $it/Name");
}

#[test]
fn lambdas() {
    let e = parse("ShipTos/any(s: s/State eq 'MN')");
    assert_eq!(
        e,
        Expr::Lambda {
            collection: MemberPath::property(["ShipTos"]),
            kind: LambdaKind::Any,
            variable: Some("s".into()),
            predicate: Some(Box::new(
                Expr::Member(MemberPath {
                    root: PathRoot::Variable("s".into()),
                    segments: vec!["State".into()]
                })
                .eq(string("MN"))
            ))
        }
    );
    assert_eq!(
        round_trip("ShipTos/any(s: s/State eq 'MN')"),
        "ShipTos/any(s:s/State eq 'MN')"
    );
    assert_eq!(
        parse("Items/any()"),
        Expr::Lambda {
            collection: MemberPath::property(["Items"]),
            kind: LambdaKind::Any,
            variable: None,
            predicate: None
        }
    );
    round_trip("Items/all(i: i/Qty gt 0 and i/Lines/any(l: l/Part eq i/Part and Name eq 'x'))");
    round_trip("DirectReports/Sales.Manager/any()");
    round_trip("@Core.Messages/any(m:m/severity eq 'error')");
    round_trip("Products/any( lambda : true )");
    // Inside the lambda the variable shadows nothing outside it.
    let Expr::Binary { right, .. } = parse("Items/any(s: s eq 1) and s eq 2") else {
        panic!()
    };
    assert_eq!(*right, member("s").eq(int(2)));
}

#[test]
fn json_arrays_and_objects() {
    assert_eq!(
        parse("[\"a\",1,true,null,'b']"),
        Expr::Array(vec![
            string("a"),
            int(1),
            lit(Literal::Boolean(true)),
            lit(Literal::Null),
            string("b")
        ])
    );
    assert_eq!(
        parse("{\"A\":1,\"B\":[],\"C\":{}}"),
        Expr::Object(vec![
            ("A".into(), int(1)),
            ("B".into(), Expr::Array(vec![])),
            ("C".into(), Expr::Object(vec![]))
        ])
    );
    assert_eq!(
        parse("[\"\\u00e9\\n\\\"\"]"),
        Expr::Array(vec![string("é\n\"")])
    );
    assert_eq!(
        parse("[\"\\ud83d\\ude00\"]"),
        Expr::Array(vec![string("😀")])
    );
    assert!(parse_filter("[\"\\ud83d\"]").is_err());
    round_trip("{\"FirstName\":Customer/FirstName,\"Sizes\":[1, 2 add 3],\"q\\\"\":\"x\"}");
    round_trip("Address eq {\"Street\":\"NE 40th\",\"City\":\"Redmond\"}");
    round_trip("[[],{},true,false,null,42,{\"no property name\":\"value\",\"@something\":true}]");
}

#[test]
fn unicode_and_whitespace() {
    assert_eq!(round_trip("Näme eq 'Grüße 😀'"), "Näme eq 'Grüße 😀'");
    assert_eq!(round_trip("Name\teq\t'x'"), "Name eq 'x'");
    assert_eq!(round_trip("contains( Name , 'x' )"), "contains(Name,'x')");
    assert!(parse_filter("Name  eq  'x'").is_ok());
}

#[test]
fn deep_nesting_is_rejected_not_overflowed() {
    let deep = format!("{}true{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(err(&deep).starts_with("expression nested too deeply"));
    let nots = format!("{}true", "not ".repeat(10_000));
    assert!(err(&nots).starts_with("expression nested too deeply"));
    let chain = vec!["a eq 1"; 5_000].join(" or ");
    assert!(err(&chain).starts_with("expression nested too deeply"));
    let arrays = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(err(&arrays).starts_with("expression nested too deeply"));
    // Reasonable sizes still parse: 100 levels of parentheses, a 500-term or-chain.
    round_trip(&format!("{}true{}", "(".repeat(100), ")".repeat(100)));
    round_trip(&vec!["a eq 1"; 500].join(" or "));
    let paths = format!("A{}", "/Model.F()".repeat(5_000));
    assert!(err(&paths).starts_with("expression nested too deeply"));
}

#[test]
fn builders_print() {
    let e = Expr::property("Name")
        .eq(string("O'Brien"))
        .and(Expr::property("Address/City").eq(string("x")).not());
    assert_eq!(
        print_expr(&e),
        "Name eq 'O''Brien' and not (Address/City eq 'x')"
    );
    assert_eq!(parse_filter(&e.to_string()), Ok(e));
}

// ------------------------------------------------------------------------------------------------
// Query options

#[test]
fn orderby() {
    let items = parse_orderby("Name asc,Rating,ReleaseDate desc").unwrap();
    assert_eq!(items.len(), 3);
    assert!(!items[0].descending && !items[1].descending && items[2].descending);
    assert_eq!(print_orderby(&items), "Name,Rating,ReleaseDate desc");
    let items = parse_orderby("Cost ge Revenue DESC, year(OrderDate)").unwrap();
    assert_eq!(
        items[0],
        OrderBy {
            expr: Expr::binary(BinaryOp::Ge, member("Cost"), member("Revenue")),
            descending: true
        }
    );
    assert_eq!(parse_orderby("Name\tasc").unwrap()[0].expr, member("Name"));
    assert!(parse_orderby("Name up").is_err());
    assert!(parse_orderby("").is_err());
    assert_eq!(parse_orderby("asc").unwrap()[0].expr, member("asc"));
}

#[test]
fn select() {
    let items = parse_select("Rating,Address/Street,*,Model.*,Address($select=Street;$top=2),Model.F(A,B),@Core.Messages").unwrap();
    assert_eq!(items[0], SelectItem::Path(vec!["Rating".into()]));
    assert_eq!(
        items[1],
        SelectItem::Path(vec!["Address".into(), "Street".into()])
    );
    assert_eq!(items[2], SelectItem::Star);
    assert_eq!(items[3], SelectItem::Path(vec!["Model.*".into()]));
    let SelectItem::Nested { path, options } = &items[4] else {
        panic!("{:?}", items[4])
    };
    assert_eq!(path, &vec!["Address".to_string()]);
    assert_eq!(options.top, Some(2));
    assert_eq!(
        items[5],
        SelectItem::Operation {
            path: vec!["Model.F".into()],
            parameters: vec!["A".into(), "B".into()]
        }
    );
    assert_eq!(
        print_select(&items),
        "Rating,Address/Street,*,Model.*,Address($select=Street;$top=2),Model.F(A,B),@Core.Messages"
    );
    assert_eq!(parse_select(&print_select(&items)).unwrap(), items);
    assert!(parse_select("A,").is_err());
    assert!(parse_select("A//B").is_err());
}

#[test]
fn expand() {
    let items = parse_expand(
        "Customer,Items($select=A,B;$filter=Qty gt 1;$expand=Part($select=Y);$top=5;$skip=1;$orderby=A desc;$levels=2;$count=true),Items/$ref,Items/$count($filter=Name eq 'Hugo'),*,Cat($levels=max)",
    )
    .unwrap();
    assert_eq!(items.len(), 6);
    assert_eq!(items[0], ExpandItem::path("Customer"));
    let o = &items[1].options;
    assert_eq!(o.select.as_ref().map(Vec::len), Some(2));
    assert!(o.filter.is_some());
    assert_eq!(o.expand[0].path, vec!["Part".to_string()]);
    assert_eq!((o.top, o.skip, o.count), (Some(5), Some(1), Some(true)));
    assert_eq!(o.levels, Some(Levels::Depth(2)));
    assert!(o.orderby[0].descending);
    assert!(items[2].is_ref && !items[2].is_count);
    assert!(items[3].is_count && items[3].options.filter.is_some());
    assert_eq!(items[4].path, vec!["*".to_string()]);
    assert_eq!(items[5].options.levels, Some(Levels::Max));
    let printed = print_expand(&items);
    assert_eq!(parse_expand(&printed).unwrap(), items, "{printed}");
    // Restrictions from the ABNF.
    assert!(parse_expand("Customer/$ref($levels=4)").is_err());
    assert!(parse_expand("Items/$count($count=true)").is_err());
    assert!(parse_expand("Category($levels=04)").is_err());
    assert!(parse_expand("*($select=A)").is_err());
    assert!(parse_expand("Items($top=1;$top=2)")
        .unwrap_err()
        .message
        .contains("more than once"));
    assert!(parse_expand("Items($bogus=1)")
        .unwrap_err()
        .message
        .contains("unknown query option"));
    // No `$` inside nested options either (4.01).
    assert_eq!(
        parse_expand("Items(expand=Product)").unwrap(),
        parse_expand("Items($expand=Product)").unwrap()
    );
}

#[test]
fn query_options_from_query() {
    let q = QueryOptions::from_query(
        "$filter=Name%20eq%20'O''Neil'%20and%20Price%20lt%202.55&$orderby=Name%20desc&$select=Name,Price&$expand=Items($top=2)&$top=10&$skip=20&$count=true&$search=blue&$format=json&$skiptoken=abc&Company=EPIC06&@p=5",
    )
    .unwrap();
    assert!(q.filter.is_some());
    assert_eq!(q.orderby.len(), 1);
    assert_eq!(q.select.as_ref().map(Vec::len), Some(2));
    assert_eq!(q.expand[0].options.top, Some(2));
    assert_eq!((q.top, q.skip, q.count), (Some(10), Some(20), Some(true)));
    assert_eq!(q.search.as_deref(), Some("blue"));
    assert_eq!(q.format.as_deref(), Some("json"));
    assert_eq!(q.skiptoken.as_deref(), Some("abc"));
    assert_eq!(
        q.custom,
        vec![
            ("Company".into(), "EPIC06".into()),
            ("@p".into(), "5".into())
        ]
    );
    let again = QueryOptions::from_query(&q.to_query_string()).unwrap();
    assert_eq!(again, q);

    // `+` is a plus, not a space.
    let q = QueryOptions::from_query("$filter=T%20eq%202025-01-31T10:00:00+02:00&x=a+b").unwrap();
    assert_eq!(
        q.filter,
        Some(member("T").eq(lit(Literal::DateTimeOffset(
            "2025-01-31T10:00:00+02:00".into()
        ))))
    );
    assert_eq!(q.custom, vec![("x".into(), "a+b".into())]);
    let s = q.to_query_string();
    assert!(s.contains("%2B02:00") && s.contains("x=a%2Bb"), "{s}");
    assert_eq!(QueryOptions::from_query(&s).unwrap(), q);

    // Without `$`, any case; v3 inlinecount; levels.
    let q = QueryOptions::from_query("filter=true&OrderBy=Name&$INLINECOUNT=allpages&$levels=max")
        .unwrap();
    assert_eq!(q.filter, Some(lit(Literal::Boolean(true))));
    assert_eq!(q.inlinecount, Some(InlineCount::AllPages));
    assert_eq!(q.levels, Some(Levels::Max));
    assert_eq!(QueryOptions::from_query(&q.to_query_string()).unwrap(), q);
    assert_eq!(
        QueryOptions::from_query("").unwrap(),
        QueryOptions::default()
    );
    assert_eq!(QueryOptions::default().to_query_string(), "");
}

#[test]
fn query_option_errors() {
    assert_eq!(
        QueryOptions::from_query("$filter=contains(Name,'x'")
            .unwrap_err()
            .to_string(),
        "$filter: expected ')' at 17"
    );
    assert_eq!(
        QueryOptions::from_query("$top=1&$top=2"),
        Err(QueryError::Repeated("$top".into()))
    );
    assert_eq!(
        QueryOptions::from_query("$top=1&top=2"),
        Err(QueryError::Repeated("$top".into()))
    );
    assert_eq!(
        QueryOptions::from_query("$bogus=1"),
        Err(QueryError::Unknown("$bogus".into()))
    );
    assert!(matches!(
        QueryOptions::from_query("$top=-1"),
        Err(QueryError::Invalid { .. })
    ));
    assert!(matches!(
        QueryOptions::from_query("$count=yes"),
        Err(QueryError::Invalid { .. })
    ));
    assert!(matches!(
        QueryOptions::from_query("$filter=%FF"),
        Err(QueryError::Encoding(_))
    ));
    assert!(QueryOptions::from_query("$search=").is_err());
    assert!(QueryOptions::from_query("$filter =true").is_err());
    assert!(QueryOptions::from_query("$filter= true").is_err());
    let e = QueryOptions::from_query("$filter=Name eqq 1").unwrap_err();
    let QueryError::Invalid { option, source } = e else {
        panic!()
    };
    assert_eq!((option.as_str(), source.position), ("$filter", 5));
}

#[test]
fn to_query_string_encoding() {
    let q = QueryOptions {
        filter: Some(member("Name").eq(string("A&B = 100% #1 'q'"))),
        select: Some(vec![SelectItem::Path(vec!["Name".into()])]),
        custom: vec![("Company".into(), "EP 06".into())],
        ..QueryOptions::default()
    };
    let s = q.to_query_string();
    assert_eq!(
        s,
        "$filter=Name%20eq%20'A%26B%20%3D%20100%25%20%231%20''q'''&$select=Name&Company=EP%2006"
    );
    assert_eq!(QueryOptions::from_query(&s).unwrap(), q);
}

#[test]
fn the_deepest_tree_the_parser_builds_prints_and_drops_on_a_small_stack() {
    // Whoever walks a parsed tree (printer, Drop, a compiler) recurses as deep as the tree; the parser
    // bounds that depth, and the deepest allowed tree must be walkable on a 2 MiB thread stack
    // (Tokio's worker default). `a or b or ...` is the deepest shape per byte.
    let deepest = (1..)
        .map(|n| vec!["a eq 1"; n].join(" or "))
        .take_while(|s| parse_filter(s).is_ok())
        .last()
        .unwrap();
    assert!(deepest.matches(" or ").count() >= 900);
    let printed = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let e = parse_filter(&deepest).unwrap();
            let printed = print_expr(&e);
            drop(e);
            printed == deepest
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(printed);
}

#[test]
fn key_predicates_positional_and_named() {
    use crate::{parse_key_predicate, KeyPart};
    let parts = parse_key_predicate("'EPIC06',45").unwrap();
    assert_eq!(
        parts,
        vec![
            KeyPart {
                name: None,
                value: Literal::String("EPIC06".into()),
                text: "'EPIC06'".into()
            },
            KeyPart {
                name: None,
                value: Literal::Int(45),
                text: "45".into()
            },
        ]
    );
    let parts = parse_key_predicate(" CustNum = -45 , Company='O''Neil,=x' ").unwrap();
    assert_eq!(parts[0].name.as_deref(), Some("CustNum"));
    assert_eq!(parts[0].value, Literal::Int(-45));
    assert_eq!(parts[1].name.as_deref(), Some("Company"));
    assert_eq!(parts[1].value, Literal::String("O'Neil,=x".into()));
    // Literals that start like a name are values, not names.
    let g = "abcdef12-3456-7890-abcd-ef1234567890";
    let parts = parse_key_predicate(&format!("{g},true,null")).unwrap();
    assert!(parts.iter().all(|p| p.name.is_none()));
    assert_eq!(parts[0].value, Literal::Guid(g.into()));
    assert_eq!(parts[1].value, Literal::Boolean(true));
    assert_eq!(parts[2].value, Literal::Null);
}

#[test]
fn key_predicates_refuse_what_is_not_a_key() {
    use crate::parse_key_predicate;
    for (text, why) in [
        ("", "a key value is empty at 0"),
        ("'EPIC06',", "a key value is empty at 9"),
        ("'EPIC06',,45", "a key value is empty at 9"),
        ("Company=", "a key value is empty at 8"),
        ("'EPIC06',CustNum", "`CustNum` is not a literal"),
        ("CustNum=45 add 1", "`45 add 1` is not a literal"),
        ("'EPIC06", "at 0"),
        ("'EPIC06' 45", "found '4' at 9"),
    ] {
        let e = parse_key_predicate(text).unwrap_err().to_string();
        assert!(e.contains(why), "{text:?}: {e}");
    }
}
