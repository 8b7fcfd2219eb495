// The record of every read of a case's personal data (migrations/019 access_log).
export {}
