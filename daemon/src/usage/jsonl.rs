#[derive(Debug, serde::Serialize, serde::Deserialize, Default, Clone, PartialEq)]
pub(crate) struct JsonlState {}
pub struct JsonlSource;
