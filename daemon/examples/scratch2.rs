fn main() {
    let r: Result<serde_json::Value, _> = jsonc_parser::parse_to_serde_value("{ apiKey: \"sk-\\udead\\ubeef\" }", &Default::default());
    println!("{}", r.unwrap_err());
}
