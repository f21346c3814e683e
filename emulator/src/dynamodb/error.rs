//! DynamoDB errors as the wire carries them: `{"__type":"<namespace>#<Code>","message":"…"}` with AWS's HTTP
//! status. Codes are written once here; operations build errors with the short constructors.

use ddbrep_engine::model::{
    Item, KeyError, KeyRole, KeySchema, ModelError, ModelErrorKind, NumberError, ScalarType, ValueType,
};

/// The error codes the emulator answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Bad parameters.
    ValidationException,
    /// Unknown table, index or stream.
    ResourceNotFoundException,
    /// Table already exists, or is being changed.
    ResourceInUseException,
    /// A condition was false.
    ConditionalCheckFailedException,
    /// The request body is not the JSON the operation takes.
    SerializationException,
    /// `X-Amz-Target` names no operation.
    UnknownOperationException,
    /// Too many tables, indexes, …
    LimitExceededException,
    /// A shard iterator older than 15 minutes.
    ExpiredIteratorException,
    /// A shard iterator pointing at records past retention.
    TrimmedDataAccessException,
    /// Something broke inside the emulator.
    InternalServerError,
    /// The request body is larger than DynamoDB accepts.
    RequestEntityTooLarge,
}

impl ErrorCode {
    /// The code's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationException => "ValidationException",
            ErrorCode::ResourceNotFoundException => "ResourceNotFoundException",
            ErrorCode::ResourceInUseException => "ResourceInUseException",
            ErrorCode::ConditionalCheckFailedException => "ConditionalCheckFailedException",
            ErrorCode::SerializationException => "SerializationException",
            ErrorCode::UnknownOperationException => "UnknownOperationException",
            ErrorCode::LimitExceededException => "LimitExceededException",
            ErrorCode::ExpiredIteratorException => "ExpiredIteratorException",
            ErrorCode::TrimmedDataAccessException => "TrimmedDataAccessException",
            ErrorCode::InternalServerError => "InternalServerError",
            ErrorCode::RequestEntityTooLarge => "RequestEntityTooLarge",
        }
    }

    /// The namespace before `#` in `__type`. DynamoDB's own faults use its service namespace; the generic
    /// front end ("coral") reports validation, serialization and unknown operations.
    pub fn namespace(self) -> &'static str {
        match self {
            ErrorCode::ValidationException => "com.amazon.coral.validate",
            ErrorCode::SerializationException | ErrorCode::UnknownOperationException => {
                "com.amazon.coral.service"
            }
            _ => "com.amazonaws.dynamodb.v20120810",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InternalServerError => 500,
            ErrorCode::RequestEntityTooLarge => 413,
            _ => 400,
        }
    }
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct DdbError {
    /// The code.
    pub code: ErrorCode,
    /// The message, in AWS's wording where clients match on it.
    pub message: String,
    /// With ReturnValuesOnConditionCheckFailure=ALL_OLD: the item that failed the condition.
    pub item: Option<Item>,
}

impl DdbError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> DdbError {
        DdbError {
            code,
            message: message.into(),
            item: None,
        }
    }

    /// ValidationException.
    pub fn validation(message: impl Into<String>) -> DdbError {
        DdbError::new(ErrorCode::ValidationException, message)
    }

    /// ValidationException with DynamoDB's "One or more parameter values were invalid: " prefix.
    pub fn invalid_parameter(message: impl std::fmt::Display) -> DdbError {
        DdbError::validation(format!("One or more parameter values were invalid: {message}"))
    }

    /// SerializationException.
    pub fn serialization(message: impl Into<String>) -> DdbError {
        DdbError::new(ErrorCode::SerializationException, message)
    }

    /// ResourceNotFoundException for a table.
    pub fn table_not_found(_name: &str) -> DdbError {
        DdbError::new(
            ErrorCode::ResourceNotFoundException,
            "Requested resource not found",
        )
    }

    /// ConditionalCheckFailedException.
    pub fn condition_failed(item: Option<Item>) -> DdbError {
        DdbError {
            code: ErrorCode::ConditionalCheckFailedException,
            message: "The conditional request failed".into(),
            item,
        }
    }

    /// InternalServerError, logging the cause.
    pub fn internal(cause: impl std::fmt::Display) -> DdbError {
        tracing::error!(%cause, "internal error");
        DdbError::new(ErrorCode::InternalServerError, "Internal server error")
    }

    /// The error for a bad attribute value, in DynamoDB's wording.
    pub fn from_model(e: &ModelError) -> DdbError {
        match &e.kind {
            ModelErrorKind::Number(n) => DdbError::validation(number_message(n)),
            ModelErrorKind::EmptySet(ty) => DdbError::invalid_parameter(match ty {
                ValueType::Ss => "An string set  may not be empty",
                ValueType::Ns => "An number set  may not be empty",
                _ => "Binary sets should not be empty",
            }),
            ModelErrorKind::DuplicateInSet { .. } => {
                DdbError::invalid_parameter("Input collection contains duplicates.")
            }
            ModelErrorKind::NullNotTrue => {
                DdbError::invalid_parameter("Null attribute value types must have the value of true")
            }
            ModelErrorKind::NestingTooDeep => DdbError::validation(
                "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit",
            ),
            ModelErrorKind::NoType | ModelErrorKind::UnknownType(_) => DdbError::validation(
                "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
            ),
            ModelErrorKind::SeveralTypes(_) => DdbError::validation(
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
            ),
            ModelErrorKind::TooLarge { .. } => DdbError::validation("Item size has exceeded the maximum allowed size"),
            ModelErrorKind::InvalidBase64(_) | ModelErrorKind::WrongJson { .. } => DdbError::serialization(e.to_string()),
        }
    }

    /// The error for an item whose key does not fit the table (PutItem's wording).
    pub fn from_item_key(e: &KeyError, schema: &KeySchema) -> DdbError {
        match e {
            KeyError::Missing { name } => {
                DdbError::invalid_parameter(format!("Missing the key {name} in the item"))
            }
            KeyError::WrongType {
                name,
                expected,
                found,
            } => DdbError::invalid_parameter(format!(
                "Type mismatch for key {name} expected: {expected} actual: {found}"
            )),
            other => DdbError::from_key_value(other, schema),
        }
    }

    /// The error for a `Key` parameter that does not fit the table (GetItem, DeleteItem, UpdateItem).
    pub fn from_key(e: &KeyError, schema: &KeySchema) -> DdbError {
        match e {
            KeyError::Missing { .. } | KeyError::WrongType { .. } | KeyError::Extra { .. } => {
                DdbError::validation("The provided key element does not match the schema")
            }
            other => DdbError::from_key_value(other, schema),
        }
    }

    fn from_key_value(e: &KeyError, schema: &KeySchema) -> DdbError {
        match e {
            KeyError::Empty { name } => {
                let ty = schema
                    .attributes()
                    .find(|a| &a.name == name)
                    .map(|a| a.ty)
                    .unwrap_or(ScalarType::S);
                DdbError::validation(empty_key_message(name, ty))
            }
            KeyError::TooLarge {
                role: KeyRole::Partition,
                ..
            } => DdbError::invalid_parameter(
                "Size of hashkey has exceeded the maximum size limit of2048 bytes",
            ),
            KeyError::TooLarge {
                role: KeyRole::Sort, ..
            } => DdbError::invalid_parameter(
                "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
            ),
            other => DdbError::validation(other.to_string()),
        }
    }
}

/// The empty-key message names the type: "empty string value" or "empty binary value".
fn empty_key_message(name: &str, ty: ScalarType) -> String {
    let kind = if ty == ScalarType::B { "binary" } else { "string" };
    format!(
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {kind} value. Key: {name}"
    )
}

fn number_message(e: &NumberError) -> String {
    match e {
        NumberError::Empty => "The parameter cannot be converted to a numeric value: ".into(),
        NumberError::Syntax(text) => format!("The parameter cannot be converted to a numeric value: {text}"),
        NumberError::TooManyDigits { .. } => {
            "Attempting to store more than 38 significant digits in a Number".into()
        }
        NumberError::Overflow => {
            "Number overflow. Attempting to store a number with magnitude larger than supported range".into()
        }
        NumberError::Underflow => {
            "Number underflow. Attempting to store a number with magnitude smaller than supported range"
                .into()
        }
    }
}
