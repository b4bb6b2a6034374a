#[derive(Debug, serde::Serialize, serde::Deserialize, Default, Clone, PartialEq)]
pub(crate) struct LogState {}
pub struct GatewayLogSource;
pub enum LogLocation {}
