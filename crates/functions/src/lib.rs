//! The serverless runtime: the Lambda Runtime API, API Gateway events, the Azure Functions
//! host model, scale-out and scale-to-zero.
