pub fn verify(){}
