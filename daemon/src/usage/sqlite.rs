#[derive(Debug, serde::Serialize, serde::Deserialize, Default, Clone, PartialEq)]
pub(crate) struct SqliteState {}
pub struct SqliteSource;
