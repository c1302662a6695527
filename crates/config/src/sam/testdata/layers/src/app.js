exports.handler = async () => require("greet").greet("layer");
