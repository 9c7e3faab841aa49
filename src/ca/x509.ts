/**
 * The one entry point to @peculiar/x509: the Reflect polyfill (reflect-metadata, which tsyringe inside @peculiar/x509 needs) must be evaluated before the library
 * (ES modules evaluate imports in order), and the WebCrypto provider is set once here.
 */
import 'reflect-metadata';
import crypto from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(crypto.webcrypto as Crypto);

export { x509 };
