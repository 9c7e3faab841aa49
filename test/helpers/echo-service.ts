/** Real-peer tests use the demo workload itself. */
export { callWho, echoImplementation, echoServiceDefinition, freePort, startEchoServer, startXdsEchoServer, WHO_PATH, type WhoReply } from '../../src/demo/echo.js';
