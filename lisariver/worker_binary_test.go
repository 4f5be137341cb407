package lisariver_test

func cleanupWorkerBinary() {}
