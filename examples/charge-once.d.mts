/** Opens and funds `account`, then charges it $50.00 exactly once; says what happened. */
export declare function chargeOnce(baseUrl: string, apiKey: string, account: string): Promise<string>;
